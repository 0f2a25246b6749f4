/* Reads one byte past the end of a 10-byte block (caught by the guard page
   after the first block from this call site).
   expect-error: Invalid read of size 1 */
#include <stdio.h>
#include <stdlib.h>
#include "common.h"
__attribute__((noipa)) int peek(const char *p, int i) { return p[i]; }
int main(void) {
    char *p = malloc(10);
    ESCAPE(p);
    for (int i = 0; i < 10; i++) p[i] = (char)i;
    int v = peek(p, 10);
    printf("%d\n", v == 0 || v != 0);
    free(p);
    return 0;
}
