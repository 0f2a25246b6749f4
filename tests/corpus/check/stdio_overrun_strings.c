/* puts, fputs and strndup given a string that runs past the end of its
   block (no NUL in it) or starts in the header before it: the reads of
   glibc's internal strlen/strnlen outside the block are reported as
   Valgrind's replacements report them ("Invalid read of size 1" at strlen
   or strnlen below puts, fputs, strndup, N bytes after/before a block of
   size 100 alloc'd; strlen's first byte and the rest are two contexts),
   and strndup's copy of the bytes past the end as Valgrind's memmove.
   valgrind: skip glibc's stream code then copies the string (mempcpy, _IO_default_xsputn), which Valgrind reports too and memdx does not replay; and the bytes past a block are the checker's own redzone in each, so the lengths differ
   expect-error: Invalid read of size 1
   expect-error: Invalid read of size 1
   expect-error: Invalid read of size 1
   expect-error: Invalid read of size 1
   expect-error: Invalid read of size 1
   build: -fno-builtin */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common.h"
__attribute__((noipa)) char *make(size_t n) { return malloc(n); }
char *keep[8];
int main(void) {
    FILE *null = fopen("/dev/null", "w");
    if (!null) return 3;
    for (int i = 0; i < 8; i++) {
        keep[i] = make(100);
        memset(keep[i], 'a', 100);
        ESCAPE(keep[i]);
    }
    /* Blocks 0 and 1 of the call site are guarded; 4 to 7 are ordinary. */
    fputs(keep[4], null);           /* past the end: one context */
    keep[5][0] = 0;
    fputs_unlocked(keep[5] - 8, null); /* from the header: byte 0, then the rest */
    char *d = strndup(keep[6] + 96, 8); /* strnlen past the end */
    ESCAPE(d);
    free(d);
    fclose(null);
    for (int i = 0; i < 8; i++) free(keep[i]);
    printf("done\n");
    return 0;
}
