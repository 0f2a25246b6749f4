/* malloc(0) returns a block of size 0 that can leak like any other.
   expect: definitely lost: 0 bytes in 3 blocks */
#include <stdlib.h>
#include "common.h"
__attribute__((noinline)) static void leak(void) { void *p = malloc(0); ESCAPE(p); }
int main(void) { leak(); leak(); leak(); return 0; }
