/* The classic reason for _exit: a fork child ends with _exit so that the
   stdio buffer it inherited (the parent's unflushed line) is not written a
   second time. Under memdx the child's report must not flush it either.
   expect: definitely lost: 12 bytes in 1 blocks */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include "common.h"
__attribute__((noinline)) static void leak(size_t n) { void *p = malloc(n); ESCAPE(p); }
int main(void) {
  leak(12);
  printf("parent line, not yet flushed\n");
  pid_t pid = fork();
  if (pid == 0) {
    leak(5);
    _exit(0);
  }
  int st;
  waitpid(pid, &st, 0);
  printf("child exit: %d\n", WEXITSTATUS(st));
  return 0;
}
