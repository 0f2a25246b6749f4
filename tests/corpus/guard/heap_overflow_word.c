/* Writes one int past the end of an array of 12 ints (48 bytes: a multiple of 16, so the block ends at its guard page), and reads one past
   the end of another (a guard page is opened once it has caught an access,
   so each overflow gets its own block here).
   expect-error: Invalid write of size 4
   expect-error: Invalid read of size 4 */
#include <stdio.h>
#include <stdlib.h>
#include "common.h"
__attribute__((noipa)) void set(int *a, int i, int v) { a[i] = v; }
__attribute__((noipa)) int get(int *a, int i) { return a[i]; }
int main(void) {
    int *a = malloc(12 * sizeof *a);
    int *b = malloc(12 * sizeof *b);
    ESCAPE(a);
    ESCAPE(b);
    for (int i = 0; i < 12; i++) { set(a, i, i); set(b, i, i); }
    set(a, 12, 42);
    printf("%d\n", get(b, 12) >= 0 || 1);
    free(a);
    free(b);
    return 0;
}
