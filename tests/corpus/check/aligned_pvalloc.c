/* pvalloc returns a page-aligned block, also the first one from a call
   site, which memdx puts on a guard page: sizes 1..64, each from its own
   call site. A misaligned pointer aborts the program.
   valgrind: skip Valgrind 3.19 has no pvalloc: it prints "Program aborting because of call to pvalloc" and exits 1 */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "common.h"

static void check(void *p, size_t size) {
  if (p == NULL || (uintptr_t)p % 4096 != 0) {
    fprintf(stderr, "pvalloc(%zu) returned %p\n", size, p);
    abort();
  }
  for (size_t i = 0; i < 4096; i++) ((volatile char *)p)[i] = (char)i;
  free(p);
}

/* One call site per size: each expansion is its own call instruction. */
#define SITE(n) { void *p = pvalloc(n); ESCAPE(p); check(p, n); }
#define EIGHT(n) SITE(n + 1) SITE(n + 2) SITE(n + 3) SITE(n + 4) \
                 SITE(n + 5) SITE(n + 6) SITE(n + 7) SITE(n + 8)

int main(void) {
  EIGHT(0) EIGHT(8) EIGHT(16) EIGHT(24) EIGHT(32) EIGHT(40) EIGHT(48) EIGHT(56)
  puts("all page-aligned");
  return 0;
}
