/* A lost binary tree: the root is definitely lost, its 6 descendants indirectly.
   expect: definitely lost: 24 bytes in 1 blocks
   expect: indirectly lost: 144 bytes in 6 blocks */
#include <stdlib.h>
#include "common.h"
struct node { struct node *l, *r; long v; };
__attribute__((noinline)) static struct node *tree(int depth) {
  struct node *n = malloc(sizeof *n);
  n->v = depth;
  n->l = depth > 1 ? tree(depth - 1) : 0;
  n->r = depth > 1 ? tree(depth - 1) : 0;
  return n;
}
int main(void) { struct node *t = tree(3); ESCAPE(t); t = 0; CLOBBER(); return 0; }
