/* malloc(0) gives a unique block that must be freed (one leaks here);
   realloc(p, 0) frees p and returns NULL (glibc); realloc(NULL, 0) is
   malloc(0); calloc with a zero count is a zero-size block.
   expect: definitely lost: 0 bytes in 1 blocks */
#include <stdio.h>
#include <stdlib.h>
#include "common.h"
__attribute__((noinline)) static void leak(void) { void *p = malloc(0); ESCAPE(p); }
int main(void) {
  void *a = malloc(0), *b = malloc(0);
  printf("malloc(0): %s, distinct: %s\n", a ? "block" : "NULL", a != b ? "yes" : "no");
  free(a);
  free(b);
  leak();
  void *p = malloc(100);
  void *q = realloc(p, 0);
  printf("realloc(p, 0): %s\n", q ? "block" : "NULL");
  free(q);
  void *r = realloc(0, 0);
  printf("realloc(NULL, 0): %s\n", r ? "block" : "NULL");
  free(r);
  void *c = calloc(0, 16);
  printf("calloc(0, 16): %s\n", c ? "block" : "NULL");
  free(c);
  return 0;
}
