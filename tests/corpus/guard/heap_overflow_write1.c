/* Writes one byte past the end of a 16-byte block.
   expect-error: Invalid write of size 1 */
#include <stdlib.h>
#include "common.h"
__attribute__((noipa)) void poke(char *p, int i) { p[i] = 'x'; }
int main(void) {
    char *p = malloc(16);
    ESCAPE(p);
    poke(p, 16);
    free(p);
    return 0;
}
