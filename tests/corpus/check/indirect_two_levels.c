/* A lost list of 5 nodes, each owning a separate buffer.
   expect: definitely lost: 16 bytes in 1 blocks
   expect: indirectly lost: 464 bytes in 9 blocks */
#include <stdlib.h>
#include "common.h"
struct n { struct n *next; char *buf; };
__attribute__((noinline)) static void build(void) {
  struct n *head = 0;
  for (int i = 0; i < 5; i++) {
    struct n *x = malloc(sizeof *x); x->next = head; x->buf = malloc(80); head = x;
  }
  ESCAPE(head);
}
int main(void) { build(); return 0; }
