/* Writes into a block after freeing it (no guard page: the poison of the
   quarantined block is found damaged at exit).
   expect-error: Invalid write to a freed block (the writing instruction is unknown)
   valgrind: skip found after the fact, so the headline has no access size (Valgrind: "Invalid write of size 8") */
#include <stdlib.h>
#include "common.h"
__attribute__((noipa)) void set(long *a, int i, long v) { a[i] = v; }
int main(void) {
    long *a = malloc(48);
    ESCAPE(a);
    free(a);
    set(a, 1, 99);
    return 0;
}
