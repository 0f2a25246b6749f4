/* Allocations that cannot succeed: SIZE_MAX, a calloc whose size
   overflows, 1 TiB (more than this machine's memory and swap), huge
   aligned requests, realloc to SIZE_MAX (the old block stays valid). The
   program sees NULL (or ENOMEM) and goes on.
   Sizes that are negative as signed numbers (here malloc(SIZE_MAX),
   memalign, valloc and posix_memalign of SIZE_MAX, realloc to SIZE_MAX)
   are errors, "Argument 'size' of function malloc has a fishy (possibly
   negative) value: -1", as under Valgrind.
   expect: definitely lost: 0 bytes in 0 blocks
   expect-error: Argument 'size' of function malloc has a fishy (possibly negative) value: -1
   expect-error: Argument 'size' of function memalign has a fishy (possibly negative) value: -1
   expect-error: Argument 'size' of function memalign has a fishy (possibly negative) value: -1
   expect-error: Argument 'size' of function memalign has a fishy (possibly negative) value: -1
   expect-error: Argument 'size' of function realloc has a fishy (possibly negative) value: -1 */
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common.h"
static void show(const char *what, void *p) {
  int e = errno;
  printf("%-28s %s%s\n", what, p ? "block" : "NULL", !p && e == ENOMEM ? " ENOMEM" : "");
  free(p);
}
int main(void) {
  errno = 0; show("malloc(SIZE_MAX)", malloc(SIZE_MAX));
  errno = 0; show("malloc(SIZE_MAX / 2)", malloc(SIZE_MAX / 2));
  errno = 0; show("malloc(1 TiB)", malloc((size_t)1 << 40));
  errno = 0; show("calloc(SIZE_MAX / 2, 4)", calloc(SIZE_MAX / 2, 4));
  errno = 0; show("calloc(1 << 20, 1 << 20)", calloc((size_t)1 << 20, (size_t)1 << 20));
  errno = 0; show("memalign(64, SIZE_MAX)", memalign(64, SIZE_MAX));
  errno = 0; show("aligned_alloc(64, 1 TiB)", aligned_alloc(64, (size_t)1 << 40));
  errno = 0; show("valloc(SIZE_MAX)", valloc(SIZE_MAX));
  void *m = (void *)1;
  int r = posix_memalign(&m, 64, SIZE_MAX);
  printf("%-28s %s\n", "posix_memalign(SIZE_MAX)", r == ENOMEM ? "ENOMEM" : "other");
  char *p = malloc(32);
  strcpy(p, "still here");
  errno = 0;
  void *q = realloc(p, SIZE_MAX);
  printf("%-28s %s%s, old block: %s\n", "realloc(p, SIZE_MAX)", q ? "block" : "NULL",
         errno == ENOMEM ? " ENOMEM" : "", p);
  errno = 0;
  q = reallocarray(p, SIZE_MAX / 2, 4);
  printf("%-28s %s%s, old block: %s\n", "reallocarray overflow", q ? "block" : "NULL",
         errno == ENOMEM ? " ENOMEM" : "", p);
  free(p);
  return 0;
}
