/* _exit after a leak: no atexit handlers, no destructors, no stdio flush
   (the unflushed line never appears), but the report still runs, as under
   Valgrind.
   expect: definitely lost: 19 bytes in 1 blocks
   expect-exit: 3 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "common.h"
__attribute__((noinline)) static void leak(size_t n) { void *p = malloc(n); ESCAPE(p); }
static void bye(void) { printf("atexit handler ran\n"); }
int main(void) {
  atexit(bye);
  printf("flushed line\n");
  fflush(stdout);
  leak(19);
  printf("unflushed line\n");
  _exit(3);
}
