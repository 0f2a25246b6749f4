/* Reads a block right after freeing it.
   expect-error: Invalid read of size 4 */
#include <stdio.h>
#include <stdlib.h>
#include "common.h"
__attribute__((noipa)) int get(int *a, int i) { return a[i]; }
int main(void) {
    int *a = malloc(40);
    ESCAPE(a);
    a[3] = 3;
    free(a);
    printf("%d\n", get(a, 3) >= 0 || 1);
    return 0;
}
