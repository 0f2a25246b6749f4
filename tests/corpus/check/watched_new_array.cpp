/* C++: the first blocks of a call site are watched, so accesses that hit
   no guard page are found at the accessing instruction: an int read one
   past the end of new int[10] (40 bytes), one read before it (a write
   there would damage glibc's chunk header natively),
   and a read one past the end of a std::vector<int> of 10.
   expect-error: Invalid read of size 4
   expect-error: Invalid read of size 4
   expect-error: Invalid read of size 4 */
#include <cstdio>
#include <vector>
#include "common.h"
static volatile int sink;
int main() {
    int *a = new int[10];
    ESCAPE(a);
    for (int i = 0; i < 10; i++) a[i] = i;
    sink = ((volatile int *)a)[10];
    sink = ((volatile int *)a)[-1];
    std::vector<int> v(10, 1);
    sink = ((volatile int *)v.data())[10];
    std::printf("%d %d\n", a[9], v[9]);
    delete[] a;
    return 0;
}
