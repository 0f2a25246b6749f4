/* Writes an int just before, and a byte just after, a `new int[25]` block
   that is never deleted, built at -O0. The first block of a call site is
   guarded: the front canary and the slack after its end are checked at
   exit (Valgrind: "Invalid write of size 4 ... 4 bytes before a block of
   size 100 alloc'd" and "Invalid write of size 1 ... 0 bytes after").
   Watched (--watch-blocks=yes, the default), both writes are reported at
   their lines as Valgrind reports them; with watching off they are found
   after the fact at exit, with no access size.
   expect-error: Invalid write of size 4
   expect-error: Invalid write of size 1
   expect: definitely lost: 100 bytes in 1 blocks
   build: -O0 */
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
