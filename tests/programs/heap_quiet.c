/* A quiet program for `memdx heap`'s memory readings: it allocates and
   touches 8 MiB, then sleeps 500 ms without allocating (no burst comes:
   the runtime's buffers are far from full), frees the block and exits.
   Prints "ok" and a checksum of the block (so the writes are kept). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int main(void) {
  size_t n = 8u << 20;
  unsigned char *volatile p = malloc(n);
  if (!p) return 1;
  for (size_t i = 0; i < n; i += 4096) p[i] = (unsigned char)(i >> 12);
  struct timespec ts = {0, 500 * 1000 * 1000};
  nanosleep(&ts, 0);
  unsigned sum = 0;
  for (size_t i = 0; i < n; i += 4096) sum += p[i];
  free(p);
  printf("ok %u\n", sum);
  return 0;
}
