/* Writes two bytes past the end of a 20-byte block (no guard page: found in
   the block's redzone when it is freed, with the damaged offsets; the
   writing instruction is not known).
   expect-error: Invalid write after the end of a block (the writing instruction is unknown)
   valgrind: skip found after the fact, so the headline has no access size (Valgrind: "Invalid write of size 1" twice) */
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
