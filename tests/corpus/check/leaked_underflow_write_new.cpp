/* Writes an int just before, and a byte just after, a `new int[25]` block
   that is never deleted, built at -O0. The first block of a call site is
   guarded: the front canary and the slack after its end are checked at
   exit (Valgrind: "Invalid write of size 4 ... 4 bytes before a block of
   size 100 alloc'd" and "Invalid write of size 1 ... 0 bytes after").
   expect-error: Invalid write before the start of a block (the writing instruction is unknown)
   expect-error: Invalid write after the end of a block (the writing instruction is unknown)
   expect: definitely lost: 100 bytes in 1 blocks
   build: -O0
   valgrind: skip found after the fact, so the headline has no access size */
#include <cstdio>
#include "common.h"
__attribute__((noipa)) void set(int *a, int i, int v) { a[i] = v; }
__attribute__((noipa)) void poke(char *p, int i) { p[i] = 'x'; }
int main() {
    int *a = new int[25];
    ESCAPE(a);
    set(a, -1, 7);
    poke(reinterpret_cast<char *>(a), 100);
    a = nullptr;
    ESCAPE(a);
    std::puts("done");
    return 0;
}
