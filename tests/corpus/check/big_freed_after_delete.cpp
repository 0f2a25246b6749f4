/* A 3 MiB array deleted, then a small new, then the deleted array read
   and written (big_freed_after_malloc.c in C++): Valgrind holds it until
   its freed queue passes --freelist-vol, so both accesses are reported.
   mallopt keeps glibc from unmapping or trimming it natively.
   expect-error: Invalid read of size 1
   expect-error: Invalid write of size 1 */
#include <malloc.h>
#include <cstdio>
#include "common.h"
__attribute__((noipa)) char *make(size_t n) { return new char[n]; }
int main() {
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    char *big = make(3 << 20);
    for (int i = 0; i < 4096; i++) big[i] = 1;
    delete[] big;
    int *other = new int(4);
    ESCAPE(other);
    volatile char x = big[5000];
    CLOBBER();
    big[1 << 20] = (char)(x + 1);
    delete other;
    std::puts("done");
    return 0;
}
