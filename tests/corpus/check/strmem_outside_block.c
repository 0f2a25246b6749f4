/* Checked C routines whose range starts before a block (in its header) or
   runs past its end from a pointer inside it: memset(buf - 8, ...),
   memmove from buf - 16, memcpy to buf + 96, strcpy to buf + 95 and
   strlen of it, strncpy to a block less 4. Valgrind reports each as
   "Invalid read/write of size N ... N bytes before/after a block". The
   blocks stay allocated (natively the writes before them damage glibc's
   chunk headers, and free would abort).
   expect-error: Invalid write of size 8
   expect-error: Invalid read of size 8
   expect-error: Invalid write of size 8
   expect-error: Invalid write of size 1
   expect-error: Invalid write of size 1
   expect-error: Invalid read of size 1
   expect-error: Invalid write of size 1
   build: -fno-builtin */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common.h"
__attribute__((noipa)) char *make(size_t n) { return malloc(n); }
char *keep[8];
int main(void) {
    char out[16];
    /* Blocks 0 and 1 of the call site are guarded; 4 to 6 are ordinary. */
    for (int i = 0; i < 8; i++) {
        keep[i] = make(100);
        ESCAPE(keep[i]);
    }
    char *buf = keep[4], *src = keep[5];
    memset(src, 'a', 99);
    src[99] = 0;
    memset(buf - 8, 0, 10);
    memmove(out, buf - 16, 16);
    ESCAPE(out);
    memcpy(buf + 96, src, 16);
    strcpy(buf + 95, "hello, world");
    size_t n = strlen(buf + 95);
    strncpy(keep[6] - 4, "abc", 3);
    printf("%zu\n", n);
    return 0;
}
