/* Each process gets its own report; the parent's is checked here.
   expect: definitely lost: 7 bytes in 1 blocks */
#include <stdlib.h>
#include <unistd.h>
#include <sys/wait.h>
#include "common.h"
__attribute__((noinline)) static void leak(size_t n) { void *p = malloc(n); ESCAPE(p); }
int main(void) {
  leak(7);
  pid_t c = fork();
  if (c == 0) { leak(11); exit(0); }
  waitpid(c, 0, 0);
  return 0;
}
