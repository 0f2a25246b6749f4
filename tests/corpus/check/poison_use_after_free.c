/* Writes into a block after freeing it. The block is the third from its
   call site, so it has no guard page (the first ones from a site get one):
   the poison of the quarantined block is found damaged at exit.
   expect-error: Invalid write to a freed block (the writing instruction is unknown)
   valgrind: skip found after the fact, so the headline has no access size (Valgrind: "Invalid write of size 8") */
#include <stdlib.h>
#include "common.h"
__attribute__((noipa)) void set(long *a, int i, long v) { a[i] = v; }
__attribute__((noipa)) long *make(void) {
    long *p = malloc(48);
    ESCAPE(p); /* no tail call: both blocks come from one call site */
    return p;
}
int main(void) {
    long *b[3];
    volatile int n = 3;
    for (int i = 0; i < n; i++) {
        b[i] = make();
        ESCAPE(b[i]);
    }
    long *a = b[2];
    free(b[0]);
    free(b[1]);
    free(a);
    set(a, 1, 99);
    return 0;
}
