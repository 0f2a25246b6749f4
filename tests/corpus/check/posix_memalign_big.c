/* Page- and huge-aligned blocks from posix_memalign and aligned_alloc.
   expect: definitely lost: 8,192 bytes in 1 blocks */
#include <stdlib.h>
#include "common.h"
int main(void) {
  void *a = 0; if (posix_memalign(&a, 4096, 100000)) return 1; ESCAPE(a); free(a);
  void *b = aligned_alloc(1 << 16, 1 << 16); ESCAPE(b); free(b);
  void *c = 0; if (posix_memalign(&c, 8192, 8192)) return 1; ESCAPE(c); c = 0; CLOBBER();
  return 0;
}
