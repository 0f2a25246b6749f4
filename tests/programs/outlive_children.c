/* Processes that outlive the program (crates/memdx/tests/check_children.rs).
   Usage: outlive_children fork|daemon DIR

   The program leaks 5 bytes (definitely lost), forks a child and exits with status 3 once
   the child's own child (the grandchild) has written DIR/pid.grandchild;
   so both are running, and connected to memdx, when the program exits.
   With "daemon" the child leaves the session first (setsid) and then
   closes every descriptor it has, as daemons do (memdx's socket too: its
   report comes over a new connection at its exit), with 0-2 on /dev/null.

   The child writes DIR/pid.child, waits for the grandchild and writes its
   fate to DIR/status ("exit N" or "signal N"), then exits with 0.
   The grandchild writes DIR/pid.grandchild, waits until DIR/release
   exists (60 s at most), writes one byte past a 20-byte block and frees
   it (natively harmless: glibc's chunk has room; memdx reports it), leaks
   77 bytes and exits with 0, writing its report at exit while memdx's
   collector may be gone: that must not change its fate. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void *volatile keep;

__attribute__((noinline)) static void leak(size_t n) { keep = malloc(n); }

static void write_file(const char *dir, const char *name, const char *text) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  if (!f) _exit(111);
  fputs(text, f);
  fclose(f);
  rename(tmp, path);
}

static int exists(const char *dir, const char *name) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  return access(path, F_OK) == 0;
}

static void write_pid(const char *dir, const char *name) {
  char text[32];
  snprintf(text, sizeof text, "%d\n", (int)getpid());
  write_file(dir, name, text);
}

static int grandchild(const char *dir) {
  write_pid(dir, "pid.grandchild");
  for (int i = 0; i < 6000 && !exists(dir, "release"); i++) usleep(10000);
  volatile char *p = malloc(20);
  p[20] = 1;
  free((void *)p);
  leak(77);
  keep = 0;
  return 0;
}

static int child(const char *dir, int daemon) {
  if (daemon) {
    if (setsid() < 0) return 1;
    int null = open("/dev/null", O_RDWR);
    if (null < 0) return 1;
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
    close_range(3, ~0U, 0);
  }
  write_pid(dir, "pid.child");
  pid_t g = fork();
  if (g < 0) return 1;
  if (g == 0) _exit(grandchild(dir));
  int st;
  if (waitpid(g, &st, 0) != g) return 1;
  char text[64];
  if (WIFSIGNALED(st))
    snprintf(text, sizeof text, "signal %d\n", WTERMSIG(st));
  else
    snprintf(text, sizeof text, "exit %d\n", WEXITSTATUS(st));
  write_file(dir, "status", text);
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 3) return 2;
  const char *dir = argv[2];
  int daemon = strcmp(argv[1], "daemon") == 0;
  leak(5);
  keep = 0;
  pid_t c = fork();
  if (c < 0) return 1;
  if (c == 0) exit(child(dir, daemon));
  for (int i = 0; i < 6000 && !exists(dir, "pid.grandchild"); i++) usleep(10000);
  return 3;
}
