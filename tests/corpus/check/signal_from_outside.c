/* Waits for a terminating signal. With an argument it waits in
   sigsuspend() for SIGTERM sent from outside (check_faults.rs sends it to
   memdx, which hands it to the program; SIGTERM is blocked until then, so
   it can only arrive there); without, it sends itself SIGHUP. Either way
   the report comes first, then the program dies by that signal.
   expect: definitely lost: 40 bytes in 1 blocks
   expect-signal: 1 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "common.h"
__attribute__((noinline)) static void leak(size_t n) { void *p = malloc(n); ESCAPE(p); }
int main(int argc, char **argv) {
  (void)argv;
  sigset_t term, none;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  sigemptyset(&none);
  sigprocmask(SIG_BLOCK, &term, NULL);
  leak(40);
  printf("ready\n");
  fflush(stdout);
  /* Its default action, also when started with SIGHUP ignored (nohup). */
  if (argc < 2) {
    signal(SIGHUP, SIG_DFL);
    kill(getpid(), SIGHUP);
  }
  for (;;) sigsuspend(&none);
}
