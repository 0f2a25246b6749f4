/* The rest of the C family; two blocks are leaked.
   expect: definitely lost: 128 bytes in 2 blocks */
#include <stdlib.h>
#include <malloc.h>
#include "common.h"
int main(void) {
  void *a = calloc(4, 16); ESCAPE(a); free(a);
  void *b = memalign(64, 100); ESCAPE(b); free(b);
  void *c = 0; if (posix_memalign(&c, 32, 64)) return 1; ESCAPE(c); free(c);
  void *d = aligned_alloc(128, 256); ESCAPE(d); free(d);
  void *e = valloc(10); ESCAPE(e); free(e);
  void *f = reallocarray(0, 8, 8); ESCAPE(f); f = 0; CLOBBER();
  void *g = calloc(1, 64); ESCAPE(g); g = 0; CLOBBER();
  return 0;
}
