/* Dies by the signal its argument names, after leaking a block, so that
   `-q` runs can be compared with Valgrind's: which deaths print "Process
   terminating with default action of signal N" (a fault or trap the
   kernel raised) and which print nothing (abort(), kill, raise,
   SIGPIPE). */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

static const int read_only = 1;

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  const char *m = argv[1];
  char *leak = malloc(10);
  __asm__ volatile("" : : "g"(leak) : "memory");
  if (!strcmp(m, "abort")) abort();
  if (!strcmp(m, "kill-term")) kill(getpid(), SIGTERM);
  /* Default actions, also when started with them ignored (nohup, `&`). */
  if (!strcmp(m, "raise-int")) { signal(SIGINT, SIG_DFL); raise(SIGINT); }
  if (!strcmp(m, "raise-quit")) { signal(SIGQUIT, SIG_DFL); raise(SIGQUIT); }
  if (!strcmp(m, "raise-segv")) raise(SIGSEGV);
  if (!strcmp(m, "sigpipe")) {
    int fd[2];
    if (pipe(fd) != 0) return 3;
    close(fd[0]);
    if (write(fd[1], "x", 1) < 0) return 4;
  }
  /* EPIPE and then an immediate _exit: natively the SIGPIPE raised inside
     the call kills the process before the call returns, so the status is
     the signal's, never 3 (the runtime's write/send hooks must not leave a
     frame of their own around glibc's call, or the signal is deferred). */
  if (!strncmp(m, "sigpipe-", 8)) {
    int fd[2];
    struct iovec v = {"x", 1};
    const char *how = m + 8;
    if (!strcmp(how, "write-exit") || !strcmp(how, "writev-exit")) {
      if (pipe(fd) != 0) return 3;
      close(fd[0]);
      if (how[5] == 'v') writev(fd[1], &v, 1);
      else write(fd[1], "x", 1);
    } else {
      if (socketpair(AF_UNIX, SOCK_STREAM, 0, fd) != 0) return 3;
      close(fd[0]);
      if (!strcmp(how, "send-exit")) send(fd[1], "x", 1, 0);
      else sendto(fd[1], "x", 1, 0, 0, 0);
    }
    _exit(3);
  }
  if (!strcmp(m, "null-read")) return *(volatile int *)16;
  if (!strcmp(m, "read-only-write")) *(volatile int *)&read_only = 2;
  if (!strcmp(m, "trap")) __asm__ volatile("int3");
  if (!strcmp(m, "ill")) __asm__ volatile("ud2");
  if (!strcmp(m, "divide")) {
    int zero = 0, q;
    __asm__ volatile("cltd; idivl %2" : "=a"(q) : "a"(1), "r"(zero) : "edx");
    return q;
  }
  return 0;
}
