/* Known allocation patterns for `memdx heap` (crates/memdx/tests/heap.rs).
 *
 *   heap_patterns            peak_site: 100 blocks of 10,000 bytes live at once, then
 *                            freed (the heap's peak); temp_site: 1,000 blocks of 64 bytes,
 *                            each freed before the next allocation (temporaries); leak_site:
 *                            one block of 12,345 bytes never freed. Prints "ok", exits 3.
 *   heap_patterns kill       the same, then 100,000 temporaries (many flushes), then
 *                            SIGKILL to itself.
 *   heap_patterns churn N W  N blocks of 16..4,111 bytes through a ring of W live blocks
 *                            (the sampling test's workload), all freed at the end.
 *
 * The volatile sink keeps the compiler from pairing away malloc and free. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *volatile sink;
static void *blocks[100];

__attribute__((noinline)) void peak_site(void) {
  for (int i = 0; i < 100; i++) blocks[i] = malloc(10000); /* PEAK LINE */
  for (int i = 0; i < 100; i++) free(blocks[i]);
}

__attribute__((noinline)) void temp_site(int n) {
  for (int i = 0; i < n; i++) {
    sink = malloc(64); /* TEMP LINE */
    free(sink);
  }
}

__attribute__((noinline)) void leak_site(void) {
  sink = malloc(12345); /* LEAK LINE */
  sink = 0;
}

__attribute__((noinline)) void churn(long n, long w) {
  void **ring = calloc(w, sizeof *ring);
  for (long i = 0; i < n; i++) {
    long k = i % w;
    free(ring[k]);
    ring[k] = malloc(16 + (size_t)((i * 7919) % 4096));
  }
  for (long k = 0; k < w; k++) free(ring[k]);
  free(ring);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "churn") == 0) {
    churn(argc > 2 ? atol(argv[2]) : 300000, argc > 3 ? atol(argv[3]) : 20000);
    printf("ok\n");
    return 0;
  }
  peak_site();
  temp_site(1000);
  leak_site();
  if (argc > 1 && strcmp(argv[1], "kill") == 0) {
    temp_site(100000);
    fflush(stdout);
    raise(SIGKILL);
  }
  printf("ok\n");
  return 3;
}
