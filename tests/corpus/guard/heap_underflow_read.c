/* Reads one byte before a 10-byte block: the second block from one call
   site (the same stack: a loop) starts its page, right after a guard page.
   expect-error: Invalid read of size 1 */
#include <stdio.h>
#include <stdlib.h>
#include "common.h"
__attribute__((noipa)) int peek(const char *p, int i) { return p[i]; }
__attribute__((noipa)) char *make(void) {
    char *p = malloc(10);
    for (int i = 0; i < 10; i++) p[i] = (char)i;
    return p;
}
int main(void) {
    char *p[2];
    volatile int n = 2; /* not unrolled: one call site, one stack */
    for (int i = 0; i < n; i++) p[i] = make();
    ESCAPE(p[0]);
    int v = peek(p[1], -1);
    printf("%d\n", v == 0 || v != 0);
    free(p[0]);
    free(p[1]);
    return 0;
}
