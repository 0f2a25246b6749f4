/* bench/attach.sh's workload: alloc_heavy's malloc/free pattern (8-264
   bytes, a window of 4,096 live blocks) for SECONDS, printing "ready PID"
   first and then, every 250 ms, "T PAIRS": the seconds since start (when
   the line is printed) and the pairs done since the previous line, so a
   run can be compared slice by slice with memdx attached for part of it.
   The clock is read every 256 pairs, so T stays true when a tracer makes
   the loop thousands of times slower (bcc's memleak). SIGTERM ends it as
   at the end of SECONDS. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define WINDOW 4096

static volatile sig_atomic_t stop;

static void on_term(int sig) {
  (void)sig;
  stop = 1;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  double seconds = argc > 1 ? atof(argv[1]) : 8;
  void *window[WINDOW] = {0};
  unsigned s = 12345;
  signal(SIGTERM, on_term);
  printf("ready %d\n", (int)getpid());
  fflush(stdout);
  double start = now(), slice = start + 0.25;
  long done = 0;
  for (;;) {
    for (int j = 0; j < 256; j++) {
      s = s * 1103515245u + 12345u;
      unsigned k = (s >> 8) % WINDOW;
      free(window[k]);
      size_t n = 8 + (s >> 16) % 257;
      window[k] = malloc(n);
      ((char *)window[k])[0] = (char)j;
    }
    done += 256;
    double t = now();
    if (t >= slice || stop) {
      printf("%.3f %ld\n", t - start, done);
      fflush(stdout);
      done = 0;
      while (slice <= t) slice += 0.25;
      if (t - start >= seconds || stop) break;
    }
  }
  for (int k = 0; k < WINDOW; k++) free(window[k]);
  return 0;
}
