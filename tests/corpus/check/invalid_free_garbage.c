/* free() of a pointer into memory the allocator never handed out (an
   mmap'd page): reported and skipped.
   expect-error: Invalid free() / delete / delete[] / realloc() */
#include <stdlib.h>
#include <sys/mman.h>
#include "common.h"
int main(void) {
  char *page = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  void *p = page + 64; ESCAPE(p);
  free(p);
  munmap(page, 4096);
  return 0;
}
