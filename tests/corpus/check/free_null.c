/* free(NULL), realloc(NULL, n), delete of null: no errors. Clean. */
#include <stdlib.h>
#include "common.h"
int main(void) {
  void *z = 0; ESCAPE(z);
  free(z);
  void *r = realloc(z, 16); ESCAPE(r); free(r);
  void *c = calloc((size_t)1 << 62, 16); ESCAPE(c);
  return c != 0;
}
