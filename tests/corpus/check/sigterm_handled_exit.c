/* The program's own dispositions of the terminating signals keep working
   under memdx: a SIGTERM handler runs and the program exits normally
   (a normal exit report, no fatal one); SIGINT set to SIG_IGN stays
   ignored; SIGUSR1 blocked stays pending; queries return what the program
   set (and SIG_DFL before it set anything).
   expect: definitely lost: 24 bytes in 1 blocks */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "common.h"
__attribute__((noinline)) static void leak(size_t n) { void *p = malloc(n); ESCAPE(p); }
static volatile sig_atomic_t got;
static void on_term(int sig) { got = sig; }
int main(void) {
  struct sigaction sa, old;
  sigaction(SIGTERM, NULL, &old);
  printf("SIGTERM at start: %s\n", old.sa_handler == SIG_DFL ? "default" : "other");
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_term;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGTERM, NULL, &old);
  printf("SIGTERM handler is ours: %d\n", old.sa_handler == on_term);
  signal(SIGINT, SIG_IGN);
  raise(SIGINT);
  printf("SIGINT ignored\n");
  sigset_t set, pend;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  sigprocmask(SIG_BLOCK, &set, NULL);
  raise(SIGUSR1);
  sigpending(&pend);
  printf("SIGUSR1 pending: %d\n", sigismember(&pend, SIGUSR1));
  signal(SIGUSR1, SIG_IGN); /* discards the pending one */
  sigprocmask(SIG_UNBLOCK, &set, NULL);
  kill(getpid(), SIGTERM);
  while (!got) pause();
  printf("handled signal %d\n", got);
  leak(24);
  return 0;
}
