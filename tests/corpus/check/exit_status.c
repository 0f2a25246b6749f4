/* expect: definitely lost: 7 bytes in 1 blocks
   expect-exit: 3 */
#include <stdlib.h>
#include "common.h"
int main(void) { void *p = malloc(7); ESCAPE(p); p = 0; CLOBBER(); exit(3); }
