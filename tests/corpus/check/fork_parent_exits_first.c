/* The parent exits at once; its fork child (same session, not a daemon)
   leaks 77 bytes a little later. Each process gets its report, as under
   Valgrind, whose children keep its output open: memdx waits for a child
   still running in the program's session (check_cli.rs checks the
   child's report); a daemon that left the session is not waited for
   (daemon_child.c). The parent's verdict is checked here.
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
