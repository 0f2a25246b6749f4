/* vfork + exec of a copy of the program, and a vfork child whose exec
   fails and that calls _exit(127): the child shares the parent's memory
   until then, and must neither run the parent's report nor disturb its
   state.
   expect: definitely lost: 13 bytes in 1 blocks */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include "common.h"
__attribute__((noinline)) static void leak(size_t n) { void *p = malloc(n); ESCAPE(p); }
int main(int argc, char **argv) {
  if (argc > 1) { leak(5); printf("child says hello\n"); return 4; }
  leak(13);
  char *kept = malloc(32);
  snprintf(kept, 32, "parent state");
  fflush(stdout);
  pid_t pid = vfork();
  if (pid == 0) {
    execl(argv[0], argv[0], "child", (char *)0);
    _exit(126);
  }
  int st;
  waitpid(pid, &st, 0);
  printf("child exit: %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
  pid = vfork();
  if (pid == 0) {
    execl("/nonexistent/program", "x", (char *)0);
    _exit(127);
  }
  waitpid(pid, &st, 0);
  printf("failed exec exit: %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
  printf("%s\n", kept);
  free(kept);
  return 0;
}
