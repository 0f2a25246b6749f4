/* memdx heap's test of bursts whose threads' buffers interleave: four
   threads each make 50,000 malloc/free pairs of 24 bytes and keep 100
   blocks of 40 bytes (never freed), all from `worker`. Exact figures
   for the site: 200,400 allocations, 400 blocks and 16,000 bytes at exit. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define THREADS 4
#define PAIRS 50000
#define KEPT 100

/* Not static: the compiler must keep the stores and the allocations. */
void *kept[THREADS][KEPT];

__attribute__((noinline)) static void *worker(void *arg) {
  long t = (long)arg;
  for (int i = 0; i < PAIRS; i++) {
    char *p = malloc(24);
    p[0] = (char)i;
    __asm__ volatile("" : : "r"(p) : "memory");
    free(p);
    if (i % (PAIRS / KEPT) == 0) kept[t][i / (PAIRS / KEPT)] = malloc(40);
  }
  return 0;
}

int main(void) {
  pthread_t th[THREADS];
  for (long t = 0; t < THREADS; t++) pthread_create(&th[t], 0, worker, (void *)t);
  for (int t = 0; t < THREADS; t++) pthread_join(th[t], 0);
  printf("done\n");
  return 0;
}
