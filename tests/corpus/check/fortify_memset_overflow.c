/* memset, then mempcpy, 40 bytes into a 36-byte heap block under
   _FORTIFY_SOURCE=2 (the compiler bounds the destination by 64 bytes, so
   glibc's checks pass). Valgrind 3.19 replaces neither __memset_chk nor
   __mempcpy_chk: glibc's memset and memcpy run under memcheck and their
   store at offset 32 is the one error each, "Invalid write of size 8 ...
   32 bytes inside a block of size 36", as in Valgrind's own memset and
   memcpy word loops, which is what memdx replays (frame 0 differs:
   glibc's AVX routines there, memdx's __memset_chk/__mempcpy_chk here).
   build: -D_FORTIFY_SOURCE=2
   expect-error: Invalid write of size 8
   expect-error: Invalid write of size 8 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common.h"
volatile int big = 0;
int main(void) {
    volatile size_t n = 40;
    char *p = big ? malloc(64) : malloc(36);
    ESCAPE(p);
    memset(p, 'x', n);
    ESCAPE(p);
    char src[64];
    memset(src, 'y', sizeof src);
    ESCAPE(src);
    char *e = mempcpy(p, src, n);
    ESCAPE(e);
    printf("%c %d\n", p[0], (int)(e - p));
    free(p);
    return 0;
}
