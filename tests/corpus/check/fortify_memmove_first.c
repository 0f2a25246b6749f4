/* glibc 2.36's __memcpy_chk and __memmove_chk are one function, which
   Valgrind 3.19 redirects to the replacement of whichever name the program
   called first: here __memmove_chk, so the later __memcpy_chk call with
   overlapping arguments is not reported as an overlap, and its overflow is
   reported under __memmove_chk (fortify_overflows.c has the other order).
   build: -D_FORTIFY_SOURCE=2
   expect-error: Invalid write of size 1 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common.h"
volatile int big = 0;
int main(void) {
    char src[64];
    memset(src, 'a', sizeof src);
    ESCAPE(src);
    volatile size_t n = 40, m = 10;
    char *p = big ? malloc(64) : malloc(36);
    ESCAPE(p);
    memmove(p, p + 1, m);
    ESCAPE(p);
    memcpy(p, p + 2, m);
    ESCAPE(p);
    memcpy(p, src, n);
    ESCAPE(p);
    printf("%c\n", p[0]);
    free(p);
    return 0;
}
