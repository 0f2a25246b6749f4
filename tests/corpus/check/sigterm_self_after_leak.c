/* A program killed by SIGTERM (here sent by itself with kill(2)) gets its
   report first, and then dies by SIGTERM, as under Valgrind.
   expect: definitely lost: 40 bytes in 1 blocks
   expect-signal: 15 */
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
#include "common.h"
__attribute__((noinline)) static void leak(size_t n) { void *p = malloc(n); ESCAPE(p); }
int main(void) {
  leak(40);
  kill(getpid(), SIGTERM);
  pause();
  return 0;
}
