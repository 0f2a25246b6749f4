/* Writes an int just before each of four blocks that are never freed
   (`data = buf - 4; data[0] = ...` with buf leaked). The first block of
   the call site is guarded at the end of its page (its front canary is
   damaged: found at exit), the second at the start of its page (the write
   faults on the guard page before it: Valgrind's "Invalid write of size
   4"), the others are ordinary blocks (their header's check word is
   damaged: found at exit), where the writing instruction is no longer
   known. Valgrind: "Invalid write of size 4 ... 4 bytes before a block of
   size 100 alloc'd", 4 errors from 1 context.
   expect-error: Invalid write of size 4
   expect-error: Invalid write before the start of a block (the writing instruction is unknown)
   expect: definitely lost: 400 bytes in 4 blocks
   valgrind: skip found after the fact, so the headline has no access size */
#include <stdlib.h>
#include "common.h"
__attribute__((noipa)) char *make(size_t n) { return malloc(n); }
__attribute__((noipa)) void set(int *data, int v) { data[0] = v; }
int main(void) {
    for (int i = 0; i < 4; i++) {
        char *buf = make(100);
        ESCAPE(buf);
        set((int *)(buf - 4), 0x41414141 + i);
        buf = 0;
        ESCAPE(buf);
    }
    return 0;
}
