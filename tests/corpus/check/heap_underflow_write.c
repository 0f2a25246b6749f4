/* Writes the int just before a block (an underflow). The block is its call
   site's first, watched (--watch-blocks=yes, the default): the write is
   reported at the writing line as Valgrind reports it ("Invalid write of
   size 4 ... 4 bytes before a block of size 32"); with watching off it is
   found after the fact in the front redzone when the block is freed.
   expect-error: Invalid write of size 4
   native: differs glibc's free aborts natively on the chunk header the write overwrote; memdx and Valgrind keep their own headers and go on */
#include <stdlib.h>
#include "common.h"
__attribute__((noipa)) void set(int *a, int i, int v) { a[i] = v; }
int main(void) {
    int *a = malloc(8 * sizeof *a);
    ESCAPE(a);
    set(a, -1, 7);
    free(a);
    return 0;
}
