/* Writes two bytes past the end of a 20-byte block. The block is its call
   site's first, watched (--watch-blocks=yes, the default): each write is
   reported at its line, as Valgrind reports them; with watching off they
   are found after the fact in the block's slack when it is freed.
   expect-error: Invalid write of size 1
   expect-error: Invalid write of size 1 */
#include <stdlib.h>
#include "common.h"
__attribute__((noipa)) void poke(char *p, int i) { p[i] = 'x'; }
int main(void) {
    char *p = malloc(20);
    ESCAPE(p);
    poke(p, 20);
    poke(p, 21);
    free(p);
    return 0;
}
