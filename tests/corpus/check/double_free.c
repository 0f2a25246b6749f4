/* expect-error: Invalid free() / delete / delete[] / realloc() */
#include <stdlib.h>
#include "common.h"
int main(void) { char *d = malloc(10); ESCAPE(d); free(d); ESCAPE(d); free(d); return 0; }
