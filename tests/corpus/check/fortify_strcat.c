/* strcat and strncat past the end of a 36-byte heap block under
   _FORTIFY_SOURCE=2 (the compiler bounds the destination by 64 bytes, so
   glibc's checks pass). Valgrind 3.19 has no replacement for __strcat_chk
   and __strncat_chk: glibc's own byte loops run under memcheck, one error
   context per store of the loop. strcat: its one copy store, 4 errors.
   strncat of 40: its copy loop unrolled by four, 4 stores past the block
   at four sites, and the terminating NUL it adds, 5 contexts. strncat of 6
   after 31 characters: one store of the tail loop and the NUL, 2 contexts.
   build: -D_FORTIFY_SOURCE=2
   expect-error: Invalid write of size 1
   expect-error: Invalid write of size 1
   expect-error: Invalid write of size 1
   expect-error: Invalid write of size 1
   expect-error: Invalid write of size 1
   expect-error: Invalid write of size 1
   expect-error: Invalid write of size 1
   expect-error: Invalid write of size 1 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common.h"
volatile int big = 0;
int main(void) {
    char src[64];
    memset(src, 'a', sizeof src);
    src[63] = 0;
    ESCAPE(src);
    volatile size_t n = 40;
    char *p = big ? malloc(64) : malloc(36);
    strcpy(p, "hello");
    ESCAPE(p);
    strcat(p, src + 29);
    ESCAPE(p);
    p[0] = 0;
    strncat(p, src, n);
    ESCAPE(p);
    strcpy(p, "0123456789012345678901234567890");
    ESCAPE(p);
    strncat(p, src, 6);
    ESCAPE(p);
    printf("%.5s\n", p);
    free(p);
    return 0;
}
