/* A 3 MiB block freed, then a small malloc, then the freed block read and
   written: Valgrind holds freed blocks until its queue passes
   --freelist-vol (20,000,000 bytes), big blocks first out, so both
   accesses are reported and the program goes on. Natively the block is
   given back to glibc's heap (mallopt keeps it from being unmapped or
   trimmed), so the accesses do not fault there either.
   expect-error: Invalid read of size 1
   expect-error: Invalid write of size 1 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include "common.h"
__attribute__((noipa)) char *make(size_t n) { return malloc(n); }
int main(void) {
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    char *big = make(3 << 20);
    for (int i = 0; i < 4096; i++) big[i] = 1;
    free(big);
    char *other = make(64);
    ESCAPE(other);
    volatile char x = big[5000];
    CLOBBER();
    big[1 << 20] = (char)(x + 1);
    free(other);
    puts("done");
    return 0;
}
