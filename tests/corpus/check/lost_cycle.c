/* Three blocks in a ring, no pointer from outside: one leader, two indirect.
   expect: definitely lost: 16 bytes in 1 blocks
   expect: indirectly lost: 32 bytes in 2 blocks */
#include <stdlib.h>
#include "common.h"
struct n { struct n *next; long pad; };
__attribute__((noinline)) static void ring(void) {
  struct n *a = malloc(sizeof *a), *b = malloc(sizeof *b), *c = malloc(sizeof *c);
  a->next = b; b->next = c; c->next = a;
  ESCAPE(a);
}
int main(void) { ring(); return 0; }
