/* A leak from the same call stack in a process and in its fork child
   (crates/memdx/tests/check_supp.rs: suppression verdicts are shared by
   the processes of a run; each report must still count its own). */
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void *volatile keep;

__attribute__((noinline)) static void leak_here(size_t n) { keep = malloc(n); }

int main(void) {
  leak_here(40);
  keep = 0;
  pid_t c = fork();
  if (c == 0) {
    leak_here(24);
    keep = 0;
    return 0;
  }
  waitpid(c, 0, 0);
  return 0;
}
