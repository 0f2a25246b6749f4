/* The program lowers its limit on descriptors to 64 and opens files until
   it has none left (EMFILE), then leaks a block and exits: the runtime,
   which holds no descriptor while the program runs, must still get one
   for the report.
   expect: definitely lost: 40 bytes in 1 blocks
   valgrind: skip Valgrind keeps its own descriptors above the program's limit and says "Warning: invalid file descriptor 64 in syscall openat()", which memdx does not */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>
#include "common.h"
__attribute__((noinline)) static void leak(size_t n) { void *p = malloc(n); ESCAPE(p); }
int main(void) {
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur > 64) {
    rl.rlim_cur = 64;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  int n = 0;
  while (open("/dev/null", O_RDONLY) >= 0) n++;
  int why = errno;
  printf("out of descriptors: %s\n", why == EMFILE ? "yes" : "no");
  fflush(stdout);
  leak(40);
  return 0;
}
