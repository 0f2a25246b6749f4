/* memcpy writes 4 bytes past the end of a 36-byte heap block (inside the
   malloc chunk's slack, so glibc's heap survives natively). Valgrind copies
   by words: its last word write covers bytes 32-39, "32 bytes inside a block
   of size 36", and memdx reports the same access.
   expect-error: Invalid write of size 8
   expect: definitely lost: 36 bytes in 1 blocks */
#include <stdlib.h>
#include <string.h>
#include "common.h"
int main(int argc, char **argv) {
    (void)argv;
    char src[64];
    memset(src, argc, sizeof src);
    ESCAPE(src);
    volatile size_t n = 40;
    char *dst = malloc(36);
    memcpy(dst, src, n);
    ESCAPE(dst);
    return 0;
}
