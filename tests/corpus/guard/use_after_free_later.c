/* Writes to a freed block after thousands of further allocations.
   expect-error: Invalid write of size 8 */
#include <stdlib.h>
#include "common.h"
__attribute__((noipa)) void set(long *a, int i, long v) { a[i] = v; }
int main(void) {
    long *a = malloc(64);
    ESCAPE(a);
    free(a);
    for (int i = 0; i < 5000; i++) {
        void *q = malloc(16 + i % 200);
        ESCAPE(q);
        free(q);
    }
    set(a, 2, 99);
    return 0;
}
