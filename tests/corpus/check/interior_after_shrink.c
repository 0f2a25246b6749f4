/* Only a pointer into the middle of a block survives: possibly lost. A
   second block is reachable only from that possibly lost block.
   expect: possibly lost: 264 bytes in 2 blocks */
#include <stdlib.h>
#include "common.h"
void *mid;
int main(void) {
  void **a = malloc(200);
  a[0] = malloc(64);
  mid = (char *)a + 96;
  a = 0; CLOBBER();
  return 0;
}
