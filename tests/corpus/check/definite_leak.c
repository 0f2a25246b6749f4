/* expect: definitely lost: 100 bytes in 1 blocks */
#include <stdlib.h>
#include "common.h"
__attribute__((noinline)) static void leak(void) { void *p = malloc(100); ESCAPE(p); }
int main(void) { leak(); return 0; }
