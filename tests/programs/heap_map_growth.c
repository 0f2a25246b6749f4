/* The program's own mappings over time for `memdx heap report
 * --leak-suspects` (crates/memdx/tests/heap_mmaps.rs).
 *
 *   map_cache: one 1 MiB anonymous mapping at the start, kept;
 *   then 300 steps 2 ms apart, each: map_step maps 16 KiB kept to the end
 *   (mappings that grow steadily), and for the first three quarters of the
 *   steps map_given maps 8 KiB, all unmapped at the three-quarter mark.
 * Prints "ok", exits 0. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#define STEPS 300

static void *given[STEPS];

static void *map(size_t len) {
  char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    perror("mmap");
    exit(2);
  }
  p[0] = 1;
  return p;
}

/* Not tail calls: each keeps its own frame in the stacks. */
__attribute__((noinline)) void *map_cache(void) { return map(1 << 20); }
__attribute__((noinline)) void *map_step(void) { return map(16384); }
__attribute__((noinline)) void *map_given(void) { return map(8192); }

int main(void) {
  void *volatile cache = map_cache();
  long three_quarters = STEPS * 3 / 4, g = 0;
  struct timespec step = {0, 2000000};
  for (long i = 0; i < STEPS; i++) {
    void *volatile kept = map_step();
    (void)kept;
    if (i < three_quarters) given[g++] = map_given();
    if (i + 1 == three_quarters) {
      while (g > 0) munmap(given[--g], 8192);
    }
    nanosleep(&step, 0);
  }
  (void)cache;
  printf("ok\n");
  return 0;
}
