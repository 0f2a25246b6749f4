/* A read one past a 64-aligned block of 64 bytes (memalign, the first
   from its call site: on a guard page, still 64-aligned).
   expect-error: Invalid read of size 1 */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "common.h"

__attribute__((noipa)) int peek(const char *p, int i) { return p[i]; }
int main(void) {
  char *p = memalign(64, 64);
  ESCAPE(p);
  if ((uintptr_t)p % 64 != 0) abort();
  for (int i = 0; i < 64; i++) p[i] = (char)i;
  int v = peek(p, 64);
  printf("%d\n", v == 0 || v != 0);
  free(p);
  return 0;
}
