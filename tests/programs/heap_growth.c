/* Memory over time for `memdx heap report --leak-suspects` and `memdx heap
 * diff` (crates/memdx/tests/heap_over_time.rs).
 *
 *   heap_growth [N]   fill_cache: 16 blocks of 65,536 bytes at the start, kept;
 *                     then N steps 2 ms apart (default 300), each: leak_step
 *                     allocates 1,024 bytes kept to the end (a steady leak), and
 *                     for the first three quarters of the steps grow_step
 *                     allocates 2,048 bytes, all freed at the three-quarter mark
 *                     (growth that is given back). Prints "ok", exits 0.
 *   heap_growth exec  fills the cache, then replaces itself with /bin/true. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void *cache[16];
static void **kept;
static void **given;

__attribute__((noinline)) void fill_cache(void) {
  for (int i = 0; i < 16; i++) {
    cache[i] = malloc(65536); /* CACHE LINE */
    memset(cache[i], 1, 65536);
  }
}

/* Not tail calls: each keeps its own frame in the stacks. */
__attribute__((noinline)) void leak_step(long i) {
  kept[i] = malloc(1024); /* LEAK LINE */
}

__attribute__((noinline)) void grow_step(long g) {
  given[g] = malloc(2048); /* GIVEN LINE */
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "exec") == 0) {
    fill_cache();
    execl("/bin/true", "true", (char *)0);
    return 127;
  }
  long n = argc > 1 ? atol(argv[1]) : 300;
  kept = calloc((size_t)n, sizeof *kept);
  given = calloc((size_t)n, sizeof *given);
  fill_cache();
  long three_quarters = n * 3 / 4, g = 0;
  struct timespec step = {0, 2000000};
  for (long i = 0; i < n; i++) {
    leak_step(i);
    if (i < three_quarters) grow_step(g++);
    if (i + 1 == three_quarters) {
      while (g > 0) free(given[--g]);
    }
    nanosleep(&step, 0);
  }
  printf("ok\n");
  return 0;
}
