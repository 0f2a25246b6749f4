/* Keeps using the old pointer after realloc moved the block.
   expect-error: Invalid read of size 4 */
#include <stdio.h>
#include <stdlib.h>
#include "common.h"
__attribute__((noipa)) int get(int *a, int i) { return a[i]; }
int main(void) {
    int *a = malloc(4 * sizeof *a);
    ESCAPE(a);
    for (int i = 0; i < 4; i++) a[i] = i;
    int *b = realloc(a, 400 * sizeof *b);
    ESCAPE(b);
    printf("%d\n", get(a, 1) >= 0 || 1);
    free(b);
    return 0;
}
