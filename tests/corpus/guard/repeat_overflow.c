/* Writes one int past the end of a 48-byte block (it ends at its guard
   page) twice from one call site and once from another, and reads past it four
   times from one instruction: the guard page is closed again after each
   access, so each is reported (Valgrind: 3 contexts, 7 errors).
   expect-error: Invalid write of size 4
   expect-error: Invalid write of size 4
   expect-error: Invalid read of size 4 */
#include <stdio.h>
#include <stdlib.h>
#include "common.h"
__attribute__((noipa)) void set(int *a, int i, int v) { a[i] = v; }
__attribute__((noipa)) void set_again(int *a, int i, int v) { a[i] = v; }
__attribute__((noipa)) int get(int *a, int i) { return a[i]; }
int main(void) {
    int *a = malloc(12 * sizeof *a);
    ESCAPE(a);
    for (int i = 0; i < 12; i++) a[i] = i;
    volatile int two = 2, four = 4; /* not unrolled: one call site each */
    for (int i = 0; i < two; i++) set(a, 12, i);
    set_again(a, 13, 3);
    int sum = 0;
    for (int i = 0; i < four; i++) sum += get(a, 12 + (i & 1)) != 0;
    printf("%d\n", sum);
    free(a);
    return 0;
}
