/* memcpy within one heap block under _FORTIFY_SOURCE=2: gcc calls
   __memcpy_chk, which Valgrind 3.19 checks for overlap (unlike plain
   memcpy on amd64) and reports as memcpy_chk with its arguments.
   build: -D_FORTIFY_SOURCE=2
   expect-error: Source and destination overlap in memcpy_chk */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common.h"
int main(void) {
    char *p = malloc(32);
    strcpy(p, "abcdefghijklmnopqrstuvwxyz");
    ESCAPE(p);
    volatile size_t n = 10;
    memcpy(p, p + 2, n);
    ESCAPE(p);
    puts(p);
    free(p);
    return 0;
}
