/* Only an interior pointer (not at a heuristic offset) is kept.
   expect: possibly lost: 1,000 bytes in 1 blocks */
#include <stdlib.h>
#include "common.h"
char *interior;
int main(void) { char *p = malloc(1000); ESCAPE(p); interior = p + 100; p = 0; CLOBBER(); return 0; }
