/* strchr and strrchr (Valgrind's index and rindex) reading past the end
   of a block that holds no NUL, and memchr told a length past it:
   Valgrind's byte loops read up to the byte found or the NUL, each read
   past the end an "Invalid read of size 1" ("0 bytes after a block of
   size 40 alloc'd"). The blocks stay allocated. strncat appending past
   the end of another is an "Invalid write of size 1" (two of its sites).
   expect-error: Invalid write of size 1
   expect-error: Invalid write of size 1
   expect-error: Invalid read of size 1
   expect-error: Invalid read of size 1
   expect-error: Invalid read of size 1
   build: -fno-builtin
   error-summary: differs strchr and strrchr read past the end up to the first NUL, which is a byte after the block under Valgrind (its redzone) and further on under memdx (its redzone's canary bytes are not zero): more errors in the same contexts */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common.h"
__attribute__((noipa)) char *make(size_t n) { return malloc(n); }
char *keep[16];
int main(void) {
    /* Blocks 0 and 1 of the call site are guarded; 4 to 8 are ordinary. */
    for (int i = 0; i < 16; i++) {
        keep[i] = make(40);
        ESCAPE(keep[i]);
    }
    char *a = keep[4], *b = keep[5];
    strcpy(a, "0123456789012345678901234567890");
    strncat(a, "abcdefghijklmnop", 12);
    memset(b, 'x', 40);
    char *m = memchr(b, 'y', 48);
    char *r = strrchr(b, 'x');
    char *q = strchr(b, 'z');
    printf("%d %d %d\n", m == NULL, r != NULL, q == NULL);
    return 0;
}
