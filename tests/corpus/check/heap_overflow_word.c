/* Reads and writes one int past the end of an array of 10 ints.
   expect-error: Invalid write of size 4
   expect-error: Invalid read of size 4 */
#include <stdio.h>
#include <stdlib.h>
#include "common.h"
__attribute__((noipa)) void set(int *a, int i, int v) { a[i] = v; }
__attribute__((noipa)) int get(int *a, int i) { return a[i]; }
int main(void) {
    int *a = malloc(10 * sizeof *a);
    ESCAPE(a);
    for (int i = 0; i < 10; i++) set(a, i, i);
    set(a, 10, 42);
    printf("%d\n", get(a, 10));
    free(a);
    return 0;
}
