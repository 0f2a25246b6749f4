/* An interior pointer to A, which points to the start of B: both possibly
   lost (Valgrind's rule: a start pointer from a possibly lost block does
   not make a block reachable).
   expect: possibly lost: 96 bytes in 2 blocks */
#include <stdlib.h>
#include "common.h"
void *keep;
struct a { void *b; long pad[5]; };
int main(void) {
  struct a *x = malloc(sizeof *x); x->b = malloc(48);
  keep = (char *)x + 24; x = 0; CLOBBER();
  return 0;
}
