/* expect-error: Invalid free() / delete / delete[] / realloc() */
#include <stdlib.h>
#include "common.h"
long table[8];
int main(void) { void *p = &table[2]; ESCAPE(p); free(p); return 0; }
