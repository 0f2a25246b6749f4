/* SIGALRM every 50 microseconds (setitimer, no SA_RESTART) while the
   program allocates and frees in a loop, so signals land inside the
   allocator and its bookkeeping; the handler does async-signal-safe work
   only (a counter, errno kept). The timer stays armed through exit: the
   end-of-process report runs with signals still arriving.
   expect: definitely lost: 48 bytes in 1 blocks */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include "common.h"
static volatile sig_atomic_t hits;
static void on_alarm(int sig) {
  int saved = errno;
  (void)sig;
  hits++;
  errno = saved;
}
__attribute__((noinline)) static void leak(size_t n) { void *p = malloc(n); ESCAPE(p); }
int main(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alarm;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGALRM, &sa, 0);
  struct itimerval it = {{0, 50}, {0, 50}};
  setitimer(ITIMER_REAL, &it, 0);
  void *live[128] = {0};
  unsigned long sum = 0;
  for (int i = 0; i < 200000 || hits < 10; i++) {
    int k = (i * 7) % 128;
    free(live[k]);
    live[k] = (i & 1) ? malloc(16 + i % 500) : calloc(1, 8 + i % 100);
    sum += live[k] != 0;
    if (i % 1000 == 0) live[k] = realloc(live[k], 1000);
  }
  for (int k = 0; k < 128; k++) free(live[k]);
  leak(48);
  printf("allocations: %lu, signals seen: %s\n", sum, hits > 0 ? "yes" : "no");
  fflush(stdout);
  return 0;
}
