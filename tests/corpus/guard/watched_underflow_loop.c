/* A loop reading from 8 bytes before its block (data = buf - 2 ints): the
   first two reads are before the block, which sits at the end of its page
   (the guard page is after it): only the watched block sees them. One
   context, two errors, as under Valgrind.
   expect-error: Invalid read of size 4 */
#include <stdio.h>
#include <stdlib.h>
#include "common.h"
static volatile long sink;
__attribute__((noipa)) long sum(const int *data, int n) {
    long s = 0;
    for (int i = 0; i < n; i++) s += ((const volatile int *)data)[i];
    return s;
}
int main(void) {
    int *buf = malloc(10 * sizeof(int));
    ESCAPE(buf);
    for (int i = 0; i < 10; i++) buf[i] = i;
    const int *data = buf - 2;
    sink = sum(data, 12);
    printf("%ld\n", sum(buf, 10));
    free(buf);
    return 0;
}
