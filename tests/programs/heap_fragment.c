/* `memdx heap`'s snapshot and heap-beside-RSS test program: 200,000
   blocks of 100 bytes (20,000,000 bytes live), then every other one freed
   (10,000,000 live): glibc keeps the freed chunks between live ones, so
   the memory it holds and the RSS stay where they were while the live
   heap halves. Between the phases it waits for the test: it creates
   DIR/filled (then DIR/halved) holding its pid and waits for DIR/go1
   (then DIR/go2), so the test can mark snapshots at known moments. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N 200000
static char *blocks[N];

static void path(char *out, size_t n, const char *dir, const char *name) {
  snprintf(out, n, "%s/%s", dir, name);
}

static void say(const char *dir, const char *name) {
  char p[4096], tmp[4200];
  path(p, sizeof p, dir, name);
  snprintf(tmp, sizeof tmp, "%s.tmp", p);
  FILE *f = fopen(tmp, "w");
  if (!f) exit(2);
  fprintf(f, "%d\n", (int)getpid());
  fclose(f);
  rename(tmp, p);
}

static void wait_for(const char *dir, const char *name) {
  char p[4096];
  path(p, sizeof p, dir, name);
  for (int i = 0; i < 12000 && access(p, F_OK) != 0; i++) usleep(10000);
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  for (int i = 0; i < N; i++) {
    blocks[i] = malloc(100); /* fragment site */
    memset(blocks[i], i, 100);
  }
  say(argv[1], "filled");
  wait_for(argv[1], "go1");
  for (int i = 0; i < N; i += 2) free(blocks[i]);
  say(argv[1], "halved");
  wait_for(argv[1], "go2");
  return 0;
}
