/* realloc() of a freed pointer: reported, returns NULL, memory left alone.
   expect-error: Invalid free() / delete / delete[] / realloc() */
#include <stdlib.h>
#include "common.h"
int main(void) {
  char *d = malloc(10); ESCAPE(d); free(d); ESCAPE(d);
  char *e = realloc(d, 20); ESCAPE(e);
  return 0;
}
