/* _FORTIFY_SOURCE=2 copies past the end of a 36-byte heap block whose size
   the compiler only bounds (the pointer comes from one of two mallocs, the
   larger 64 bytes): gcc calls __memcpy_chk, __memmove_chk, __strcpy_chk,
   __stpcpy_chk and __strncpy_chk with 64 as the destination length, so
   glibc's length checks pass and each copies 4 bytes past the block (inside
   the malloc chunk's slack, so the program runs on natively). Valgrind
   3.19 replaces the first four with byte loops (one error per byte, under
   the _chk name); glibc's __strncpy_chk jumps to strncpy, which Valgrind
   reports as strncpy (its copy loop and its NUL padding: two contexts).
   build: -D_FORTIFY_SOURCE=2
   expect-error: Invalid write of size 1
   expect-error: Invalid write of size 1
   expect-error: Invalid write of size 1
   expect-error: Invalid write of size 1
   expect-error: Invalid write of size 1
   expect-error: Invalid write of size 1 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common.h"
volatile int big = 0;
int main(void) {
    char src[64];
    memset(src, 'a', sizeof src);
    src[39] = 0;
    ESCAPE(src);
    volatile size_t n = 40;
    char *p = big ? malloc(64) : malloc(36);
    ESCAPE(p);
    memcpy(p, src, n);
    ESCAPE(p);
    memmove(p, src, n);
    ESCAPE(p);
    strcpy(p, src);
    ESCAPE(p);
    char *end = stpcpy(p, src);
    ESCAPE(end);
    strncpy(p, src + 2, n);
    ESCAPE(p);
    printf("end at %d\n", (int)(end - p));
    free(p);
    return 0;
}
