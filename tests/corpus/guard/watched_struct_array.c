/* One struct past the end of an array of 5 (8 bytes each: 40 bytes),
   reading its short member: "Invalid read of size 2 ... 4 bytes after a
   block of size 40 alloc'd".
   expect-error: Invalid read of size 2 */
#include <stdio.h>
#include <stdlib.h>
#include "common.h"
static volatile int sink;
struct item { int id; short qty; };
__attribute__((noipa)) int total(const struct item *it, int n) {
    int t = 0;
    for (int i = 0; i <= n; i++) t += it[i].qty; /* off by one */
    return t;
}
int main(void) {
    struct item *it = malloc(5 * sizeof *it);
    ESCAPE(it);
    for (int i = 0; i < 5; i++) { it[i].id = i; it[i].qty = 1; }
    sink = total(it, 5);
    printf("%d\n", it[4].qty);
    free(it);
    return 0;
}
