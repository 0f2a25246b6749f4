/* memset 40 bytes into a 36-byte heap block under _FORTIFY_SOURCE=2 (the
   compiler bounds the destination by 64 bytes, so glibc's check passes).
   Valgrind 3.19 does not replace __memset_chk: glibc's memset runs under
   memcheck and its word store at offset 32 is the one error, "32 bytes
   inside a block of size 36", as in Valgrind's own memset loop, which is
   what memdx replays (frame 0 differs: glibc's memset there, memdx's
   __memset_chk here).
   build: -D_FORTIFY_SOURCE=2
   expect-error: Invalid write of size 8 */
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
    printf("%c\n", p[0]);
    free(p);
    return 0;
}
