/* A profiling timer's SIGPROF (default action: terminate) lands while the
   program allocates and frees in a loop, so most often inside the
   runtime's allocator hooks, which may hold a lock the report needs: the
   runtime defers the report until the hook has returned, and the program
   still gets its report and dies by SIGPROF.
   expect: definitely lost: 40 bytes in 1 blocks
   expect-signal: 27
   valgrind: skip the timer lands at a different point of the loop in each run (the still-reachable figure and heap totals vary) */
#include <signal.h>
#include <stdlib.h>
#include <sys/time.h>
#include "common.h"
__attribute__((noinline)) static void leak(size_t n) { void *p = malloc(n); ESCAPE(p); }
int main(void) {
  leak(40);
  struct itimerval t = {{0, 0}, {0, 20000}};
  setitimer(ITIMER_PROF, &t, NULL);
  for (unsigned i = 0;; i++) {
    void *p = malloc(16 + (i % 512));
    ESCAPE(p);
    free(p);
  }
}
