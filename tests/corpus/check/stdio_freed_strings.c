/* puts, fputs, fputs_unlocked and strndup given a string that starts a
   freed block: glibc reads it with its internal strlen/strnlen, which
   Valgrind replaces: "Invalid read of size 1" at strlen (strnlen) below
   puts (fputs, fputs_unlocked, strndup), 0 bytes inside a block of size
   100 free'd. The strings were empty when freed, so that first byte is
   the only one Valgrind reads. stdout goes to /dev/null: a freed block's
   bytes are the allocator's natively.
   heap-summary: differs a freed block holds memdx's poison, not the program's empty string, so strndup copies 10 bytes of it and the /dev/null stream allocates its 4,096-byte buffer for them
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
    if (!freopen("/dev/null", "w", stdout)) return 2;
    FILE *null = fopen("/dev/null", "w");
    if (!null) return 3;
    /* Blocks 0 and 1 of the call site are guarded; 4 to 7 are ordinary. */
    for (int i = 0; i < 8; i++) {
        keep[i] = make(100);
        memset(keep[i], 0, 100);
        ESCAPE(keep[i]);
    }
    for (int i = 4; i < 8; i++) free(keep[i]);
    puts(keep[4]);
    fputs(keep[5], null);
    fputs_unlocked(keep[6], null);
    char *d = strndup(keep[7], 10);
    ESCAPE(d);
    free(d);
    fclose(null);
    for (int i = 0; i < 4; i++) free(keep[i]);
    return 0;
}
