/* A profiling timer's SIGPROF (default action: terminate) lands while the
   program allocates and frees in a loop, so most often inside the
   runtime's allocator hooks, which may hold a lock the report needs: the
   runtime defers the report until the hook has returned, and the program
   still gets its report and dies by SIGPROF. (posix_memalign stores the
   block in a global from inside the hook, so the loop's block is never
   held only in a register, whatever instruction the signal interrupts.)
   expect: definitely lost: 40 bytes in 1 blocks
   expect-signal: 27
   valgrind: skip the timer lands at a different point of the loop in each run (the still-reachable figure and heap totals vary) */
#include <signal.h>
#include <stdlib.h>
#include <sys/time.h>
#include "common.h"
__attribute__((noinline)) static void leak(size_t n) { void *p = malloc(n); ESCAPE(p); }
static void *volatile slot;
int main(void) {
  leak(40);
  struct itimerval t = {{0, 0}, {0, 20000}};
  setitimer(ITIMER_PROF, &t, NULL);
  for (unsigned i = 0;; i++) {
    if (posix_memalign((void **)&slot, 16, 16 + (i % 512)) != 0) return 1;
    free(slot);
  }
}
