/* A block starting with the 64-bit length of the rest and only a pointer
   just past it: Valgrind's length64 heuristic makes it still reachable. */
#include <stdlib.h>
#include <stdint.h>
#include "common.h"
char *payload;
int main(void) {
  uint64_t *b = malloc(8 + 100);
  b[0] = 100;
  payload = (char *)(b + 1);
  b = 0; CLOBBER();
  return 0;
}
