/* The same bad free from the same place ten times: one error context.
   expect-error: Invalid free() / delete / delete[] / realloc() */
#include <stdlib.h>
#include "common.h"
long junk[4];
int main(void) { for (int i = 0; i < 10; i++) { void *p = &junk[1]; ESCAPE(p); free(p); } return 0; }
