/* expect-error: Invalid free() / delete / delete[] / realloc() */
#include <stdlib.h>
#include "common.h"
int main(void) { int x[4]; ESCAPE(x); free(x); return 0; }
