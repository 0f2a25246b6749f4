/* A write to a pipe nobody reads, with a SIGPIPE handler that cleans up,
   restores the default action with signal() and re-raises (as coreutils
   sort does): the report still runs, then the program dies by SIGPIPE.
   expect: definitely lost: 17 bytes in 1 blocks
   expect-signal: 13 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "common.h"
__attribute__((noinline)) static void leak(size_t n) { void *p = malloc(n); ESCAPE(p); }
static void cleanup(int sig) {
  signal(sig, SIG_DFL);
  raise(sig);
}
int main(void) {
  leak(17);
  int fds[2];
  if (pipe(fds) != 0) return 1;
  close(fds[0]);
  struct sigaction sa = {0};
  sa.sa_handler = cleanup;
  sigaction(SIGPIPE, &sa, 0);
  printf("writing\n");
  fflush(stdout);
  write(fds[1], "x", 1);
  printf("not reached\n");
  return 0;
}
