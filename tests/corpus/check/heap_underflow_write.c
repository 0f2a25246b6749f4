/* Writes the int just before a block (an underflow): found in the block's
   front redzone when it is freed; the writing instruction is not known, so
   the headline says so where Valgrind says "Invalid write of size 4".
   expect-error: Invalid write before the start of a block (the writing instruction is unknown)
   valgrind: skip an underflow is found after the fact (no guard page before a block), so the headline has no access size */
#include <stdlib.h>
#include "common.h"
__attribute__((noipa)) void set(int *a, int i, int v) { a[i] = v; }
int main(void) {
    int *a = malloc(8 * sizeof *a);
    ESCAPE(a);
    set(a, -1, 7);
    free(a);
    return 0;
}
