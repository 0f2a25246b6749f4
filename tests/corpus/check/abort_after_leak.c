/* The report still runs, then the program dies by SIGABRT as it would.
   expect: definitely lost: 7 bytes in 1 blocks
   expect-signal: 6 */
#include <stdlib.h>
#include "common.h"
__attribute__((noinline)) static void leak(void) { void *p = malloc(7); ESCAPE(p); }
int main(void) { leak(); abort(); }
