/* One int written past the end of a block of 9 ints (36 bytes: natively
   the write lands in glibc's slack, harmless; 10 ints would overwrite the
   next chunk's header and glibc would abort), into the slack before the
   guard page; the write is seen by the watched block at the writing
   instruction ("Invalid write of size 4 ... 0 bytes after a block of size
   36 alloc'd"), and read back as written (the program behaves as
   natively).
   expect-error: Invalid write of size 4
   expect-error: Invalid read of size 4 */
#include <stdio.h>
#include <stdlib.h>
#include "common.h"
__attribute__((noipa)) void put(int *a, int i, int v) { a[i] = v; }
__attribute__((noipa)) int get(const int *a, int i) { return a[i]; }
int main(void) {
    int *a = malloc(9 * sizeof(int));
    ESCAPE(a);
    for (int i = 0; i < 9; i++) a[i] = i;
    put(a, 9, 1234);
    printf("%d\n", get(a, 9));
    free(a);
    return 0;
}
