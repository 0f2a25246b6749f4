/* A list hanging off a global, and a block reachable only from a lost block.
   expect: definitely lost: 16 bytes in 1 blocks
   expect: indirectly lost: 16 bytes in 1 blocks */
#include <stdlib.h>
#include "common.h"
struct n { struct n *next; long v; };
struct n *head;
__attribute__((noinline)) static void lose_pair(void) {
  struct n *a = malloc(sizeof *a); a->next = malloc(sizeof *a); a->next->next = 0; ESCAPE(a);
}
int main(void) {
  for (int i = 0; i < 10; i++) { struct n *x = malloc(sizeof *x); x->next = head; head = x; }
  lose_pair();
  return 0;
}
