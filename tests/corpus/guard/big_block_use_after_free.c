/* Reads a freed 4 MiB block three times from one instruction before the
   next allocation: Valgrind holds a freed block of at least
   --freelist-big-blocks bytes (1,000,000) until then, whatever its
   --freelist-vol, and reports each read. The block is in glibc's heap
   (mallopt), so the native run reads it without crashing.
   expect-error: Invalid read of size 8 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common.h"
__attribute__((noipa)) long get(long *a, long i) { return a[i]; }
int main(void) {
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    long *big = malloc(4 << 20);
    ESCAPE(big);
    memset(big, 1, 4 << 20);
    free(big);
    volatile int three = 3; /* not unrolled: one call site */
    long sum = 0;
    for (int i = 0; i < three; i++) sum += (get(big, 100000 + i) | 1) != 0;
    char *small = malloc(10); /* the big block is given back here */
    ESCAPE(small);
    free(small);
    printf("%ld\n", sum);
    return 0;
}
