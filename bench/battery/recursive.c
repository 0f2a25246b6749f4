/* A recursive C program allocating at every depth: a tree built and torn
   down recursively, blocks of several sizes at each level. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
struct tree {
  struct tree *left, *right;
  char *label;
  int depth;
};
static struct tree *build(int depth, unsigned seed) {
  struct tree *t = malloc(sizeof *t);
  t->depth = depth;
  t->label = malloc((size_t)(seed % 40) + 8);
  memset(t->label, 'a' + depth % 26, (size_t)(seed % 40) + 7);
  t->label[(seed % 40) + 7] = 0;
  t->left = depth > 0 ? build(depth - 1, seed * 3 + 1) : NULL;
  t->right = depth > 1 ? build(depth - 2, seed * 5 + 2) : NULL;
  return t;
}
static long walk_free(struct tree *t) {
  if (!t) return 0;
  long n = (long)strlen(t->label) + walk_free(t->left) + walk_free(t->right);
  free(t->label);
  free(t);
  return n;
}
int main(int argc, char **argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 40;
  long total = 0;
  for (int r = 0; r < rounds; r++) total += walk_free(build(18, r));
  printf("%ld\n", total);
  return 0;
}
