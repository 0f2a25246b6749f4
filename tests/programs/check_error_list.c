/* Bad frees at three sites (one of them three times, in its own function)
   between lines of output, and a definite leak. Used by
   crates/memdx/tests/check_options.rs for -s, --exit-on-first-error and
   XML mode against Valgrind 3.19. */
#include <stdio.h>
#include <stdlib.h>
#include "../corpus/check/common.h"
static long junk[4];
__attribute__((noinline)) static void free_junk(void) {
  void *p = &junk[1];
  ESCAPE(p);
  free(p);
  CLOBBER(); /* no tail call: free_junk stays on the stack */
}
int main(void) {
  char *leak = malloc(7);
  ESCAPE(leak);
  leak = 0;
  char *d = malloc(10);
  ESCAPE(d);
  free(d);
  ESCAPE(d);
  printf("before\n");
  fflush(stdout);
  free(d);
  printf("after\n");
  fflush(stdout);
  volatile int times = 3; /* not unrolled: one call site */
  for (int i = 0; i < times; i++)
    free_junk();
  free(d);
  return 3;
}
