/* The classic `p = realloc(p, n)` pattern whose result is later dropped.
   expect: definitely lost: 400 bytes in 1 blocks */
#include <stdlib.h>
#include "common.h"
__attribute__((noinline)) static void grow(void) {
  char *p = malloc(100);
  for (int i = 2; i <= 4; i++) p = realloc(p, 100 * i);
  ESCAPE(p);
}
int main(void) { grow(); return 0; }
