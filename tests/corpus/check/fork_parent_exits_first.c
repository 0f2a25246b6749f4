/* The parent exits at once; its fork child (same session, not a daemon)
   leaks 77 bytes a little later. memdx returns when the parent has
   exited, as Valgrind does, without waiting for the child; with
   --log-file=NAME.%p the child's report reaches its own file later
   (check_cli.rs checks it), on stderr it is not collected (memdx says so).
   The parent's verdict is checked here.
   expect: definitely lost: 5 bytes in 1 blocks */
#include <stdlib.h>
#include <unistd.h>
#include "common.h"
__attribute__((noinline)) static void leak(size_t n) { void *p = malloc(n); ESCAPE(p); }
int main(void) {
  leak(5);
  if (fork() == 0) {
    usleep(300000);
    leak(77);
    return 0;
  }
  return 0;
}
