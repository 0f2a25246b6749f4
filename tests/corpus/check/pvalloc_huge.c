/* pvalloc rounds the size up to whole pages: a size within a page of
   SIZE_MAX cannot be rounded and must fail (NULL, ENOMEM) rather than wrap
   around to a small block. Small sizes give page-aligned blocks.
   expect: definitely lost: 4,096 bytes in 1 blocks
   valgrind: skip Valgrind 3.19 does not implement pvalloc (it aborts the program with "Program aborting because of call to pvalloc") */
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "common.h"
int main(void) {
  errno = 0;
  void *p = pvalloc(SIZE_MAX);
  printf("pvalloc(SIZE_MAX): %s%s\n", p ? "block" : "NULL", !p && errno == ENOMEM ? " ENOMEM" : "");
  free(p);
  errno = 0;
  p = pvalloc(SIZE_MAX - 4095);
  printf("pvalloc(SIZE_MAX - 4095): %s%s\n", p ? "block" : "NULL", !p && errno == ENOMEM ? " ENOMEM" : "");
  free(p);
  void *q = pvalloc(10);
  printf("pvalloc(10): %s, page aligned: %s\n", q ? "block" : "NULL",
         ((uintptr_t)q & 4095) == 0 ? "yes" : "no");
  ESCAPE(q); q = 0; CLOBBER();
  return 0;
}
