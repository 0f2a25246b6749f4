/* expect: definitely lost: 4,950 bytes in 99 blocks */
#include <stdlib.h>
#include "common.h"
__attribute__((noinline)) static void leak(size_t n) { void *p = malloc(n); ESCAPE(p); }
int main(void) { for (int i = 1; i < 100; i++) leak(i); return 0; }
