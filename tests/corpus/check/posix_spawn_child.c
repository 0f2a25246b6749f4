/* posix_spawn of a copy of the program (which leaks and exits 3) and of
   /bin/true: the children run unchecked without --trace-children=yes; the
   parent's report counts only its own leak.
   expect: definitely lost: 9 bytes in 1 blocks */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include "common.h"
extern char **environ;
__attribute__((noinline)) static void leak(size_t n) { void *p = malloc(n); ESCAPE(p); }
int main(int argc, char **argv) {
  if (argc > 1) { leak(5); printf("child says hello\n"); return 3; }
  leak(9);
  char *args[] = {argv[0], "child", 0};
  pid_t pid;
  int r = posix_spawn(&pid, argv[0], 0, 0, args, environ);
  if (r != 0) { printf("posix_spawn failed: %d\n", r); return 1; }
  int st;
  waitpid(pid, &st, 0);
  printf("child exit: %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
  char *targs[] = {"true", 0};
  r = posix_spawnp(&pid, "true", 0, 0, targs, environ);
  if (r != 0) { printf("posix_spawnp failed: %d\n", r); return 1; }
  waitpid(pid, &st, 0);
  printf("true exit: %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
  char *bad[] = {"/nonexistent/program", 0};
  r = posix_spawn(&pid, bad[0], 0, 0, bad, environ);
  printf("missing program: %s\n", r != 0 ? "error returned" : "spawned");
  if (r == 0) waitpid(pid, &st, 0);
  return 0;
}
