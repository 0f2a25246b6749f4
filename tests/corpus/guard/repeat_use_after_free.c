/* Reads a freed block three times from one instruction (one context, three
   errors) and writes it twice from another (a second context, two errors):
   the page of a freed guarded block is closed again after each access.
   expect-error: Invalid read of size 4
   expect-error: Invalid write of size 4 */
#include <stdio.h>
#include <stdlib.h>
#include "common.h"
__attribute__((noipa)) int get(int *a, int i) { return a[i]; }
__attribute__((noipa)) void set(int *a, int i, int v) { a[i] = v; }
int main(void) {
    int *a = malloc(40);
    ESCAPE(a);
    for (int i = 0; i < 10; i++) a[i] = i;
    free(a);
    volatile int three = 3, two = 2; /* not unrolled: one call site each */
    int sum = 0;
    for (int i = 0; i < three; i++) sum += (get(a, i) | 1) != 0; /* freed memory's values differ */
    for (int i = 0; i < two; i++) set(a, i, 7);
    printf("%d\n", sum);
    return 0;
}
