/* The memcheck tutorial's example: one int read past the end of a block of
   10 ints (40 bytes: 8 bytes of slack before the guard page, which only a
   watched block sees). Valgrind: "Invalid read of size 4 ... 0 bytes after
   a block of size 40 alloc'd".
   expect-error: Invalid read of size 4 */
#include <stdio.h>
#include <stdlib.h>
#include "common.h"
static volatile int sink;
int main(void) {
    int *a = malloc(10 * sizeof(int));
    ESCAPE(a);
    for (int i = 0; i < 10; i++) a[i] = i;
    CLOBBER();
    sink = ((volatile int *)a)[10];
    printf("%d\n", a[9]);
    free(a);
    return 0;
}
