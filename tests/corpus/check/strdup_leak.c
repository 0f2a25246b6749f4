/* libc's own calls to malloc (strdup, asprintf) are interposed too.
   expect: definitely lost: 29 bytes in 2 blocks */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common.h"
__attribute__((noinline)) static void leak(void) {
  char *a = strdup("hello, world"); ESCAPE(a);
  char *b = 0; if (asprintf(&b, "%d-%s", 42, "abcdefghijkl") < 0) abort(); ESCAPE(b);
}
int main(void) { leak(); return 0; }
