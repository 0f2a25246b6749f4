/* The program treats every descriptor number as its own, as natively: it
   asks fcntl(F_DUPFD) for 700 and 700 must be free, lists /proc/self/fd,
   dup2()s and dup3()s onto every number up to 1023, checks that each holds
   its own file, closes them all with close_range(3, ~0U) and a close()
   loop, and leaks a block, whose report must survive all that. What it
   prints (checked against the native run) shows any descriptor of the
   runtime's it saw, and any of its own the runtime took.
   expect: definitely lost: 24 bytes in 1 blocks */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "common.h"
__attribute__((noinline)) static void leak(size_t n) { void *p = malloc(n); ESCAPE(p); }

/* The descriptors above 2 that are open, as the program sees them. */
static void list(const char *when) {
  DIR *d = opendir("/proc/self/fd");
  if (!d) return;
  int own = dirfd(d), n = 0, high = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    int fd = atoi(e->d_name);
    if (e->d_name[0] == '.' || fd <= 2 || fd == own) continue;
    n++;
    if (fd >= 512) high++;
  }
  closedir(d);
  printf("%s: %d descriptors above 2 open, %d of them at 512 or more\n", when, n, high);
}

int main(void) {
  list("at start");
  errno = 0;
  int flags = fcntl(700, F_GETFD);
  printf("F_GETFD on 700: %d (%s)\n", flags, strerror(errno));
  int first = fcntl(0, F_DUPFD, 700);
  printf("F_DUPFD from 700: %d\n", first);
  close(first);
  char path[] = "/tmp/memdx-all-taken-XXXXXX";
  int src = mkstemp(path);
  if (src < 0) return 1;
  unlink(path);
  struct stat own;
  fstat(src, &own);
  int ok = 0, failed = 0;
  for (int fd = 3; fd < 1024; fd++) {
    if (fd == src) continue;
    int r = fd % 2 ? dup2(src, fd) : dup3(src, fd, O_CLOEXEC);
    if (r == fd) ok++;
    else failed++;
  }
  int same = 0;
  for (int fd = 3; fd < 1024; fd++) {
    struct stat st;
    if (fstat(fd, &st) == 0 && st.st_dev == own.st_dev && st.st_ino == own.st_ino) same++;
  }
  printf("dup2/dup3: %d ok, %d failed; %d descriptors hold the program's file\n", ok, failed,
         same);
  fflush(stdout);
  if (write(700, "seven hundred\n", 14) != 14) return 2;
  char back[32] = {0};
  pread(src, back, sizeof back - 1, 0);
  printf("the file holds: %s", back);
  list("all taken");
  errno = 0;
  int r = close_range(3, ~0U, 0);
  printf("close_range: %d (%s)\n", r, strerror(errno));
  list("after close_range");
  int closed = 0;
  for (int fd = 3; fd < 4096; fd++)
    if (close(fd) == 0) closed++;
  printf("close loop closed %d more\n", closed);
  leak(24);
  return 0;
}
