/* strcpy of 39 characters into a 36-byte heap block whose size the
   compiler knows under _FORTIFY_SOURCE=2: glibc's __strcpy_chk prints
   "*** buffer overflow detected ***: terminated" and aborts before
   copying, under memdx as natively (no invalid write: nothing was written).
   Valgrind's replacement instead prints its own "strcpy_chk: buffer
   overflow detected" message and exits with status 127.
   build: -D_FORTIFY_SOURCE=2
   expect-signal: 6
   expect: definitely lost: 0 bytes in 0 blocks
   valgrind: skip Valgrind's __strcpy_chk exits 127 with its own message where glibc aborts */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common.h"
int main(void) {
    char src[64];
    memset(src, 'a', sizeof src);
    src[39] = 0;
    ESCAPE(src);
    char *p = malloc(36);
    ESCAPE(p);
    strcpy(p, src);
    ESCAPE(p);
    puts(p);
    free(p);
    return 0;
}
