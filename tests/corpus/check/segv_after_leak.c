/* The report runs before the program dies by SIGSEGV, as it would.
   expect: definitely lost: 32 bytes in 1 blocks
   expect-signal: 11
   expect-error: Invalid read of size 4 */
#include <stdlib.h>
#include "common.h"
__attribute__((noinline)) static void leak(void) { void *p = malloc(32); ESCAPE(p); }
int main(void) { leak(); volatile int *bad = (int *)16; return *bad; }
