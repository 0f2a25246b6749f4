/* free() of a pointer 8 bytes into a live block: reported and skipped, so
   the block is then still reachable (p is a global).
   expect-error: Invalid free() / delete / delete[] / realloc() */
#include <stdlib.h>
#include "common.h"
char *p;
int main(void) { p = malloc(32); ESCAPE(p); free(p + 8); return 0; }
