/* Copies 40 bytes out of a 36-byte block: Valgrind's memcpy reads words,
   and its last one is an aligned load only partly inside the block, which
   --partial-loads-ok=no reports (yes, the default, does not).
   options: --partial-loads-ok=no
   build: -fno-builtin
   expect-error: Invalid read of size 8 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common.h"
int main(void) {
    char *src = malloc(36), *dst = malloc(40);
    ESCAPE(src);
    ESCAPE(dst);
    memset(src, 'a', 36);
    memcpy(dst, src, 40);
    printf("%c\n", dst[0]);
    free(src);
    free(dst);
    return 0;
}
