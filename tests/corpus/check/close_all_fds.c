/* The program closes every descriptor above 2 (as daemons do), then fills
   the numbers up to 705 with copies of its own file's descriptor, so the
   number the runtime's socket had now belongs to the program's file. The
   runtime must never write its events there (the file holds exactly what
   the program wrote: the parent checks after its fork child's report), and
   the reports must still arrive (on a new connection).
   expect: definitely lost: 31 bytes in 1 blocks */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "common.h"
__attribute__((noinline)) static void leak(size_t n) { void *p = malloc(n); ESCAPE(p); }
int main(void) {
  char path[] = "/tmp/memdx-close-all-XXXXXX";
  int keep = mkstemp(path);
  if (keep < 0) return 1;
  unlink(path);
  for (int fd = 3; fd < 4096; fd++)
    if (fd != keep) close(fd);
  int top = keep;
  while (top < 705) {
    int fd = dup(keep);
    if (fd < 0) break;
    top = fd;
  }
  leak(31);
  pid_t pid = fork();
  if (pid == 0) {
    leak(7);
    write(keep, "child\n", 6);
    _exit(0);
  }
  waitpid(pid, 0, 0);
  write(keep, "parent\n", 7);
  struct stat st;
  fstat(keep, &st);
  printf("descriptors filled: %s, file size: %lld\n", top >= 705 ? "yes" : "no",
         (long long)st.st_size);
  fflush(stdout);
  return 0;
}
