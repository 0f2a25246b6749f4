/* Loaded and closed in turns with unwind_lib_b.so (built -O0, frame
   pointers): the same addresses may hold other code and other CFI. */
#include <stdlib.h>
void *volatile unwind_lib_sink;
__attribute__((noinline)) static void lib_inner(int n) {
  for (int i = 0; i < n; i++) {
    unwind_lib_sink = malloc((size_t)i + 1);
    free(unwind_lib_sink);
  }
}
__attribute__((noinline)) static void lib_mid(int depth, int n) {
  if (depth > 0) lib_mid(depth - 1, n); else lib_inner(n);
  __asm__ volatile("" ::: "memory");
}
void lib_work(int n) { lib_mid(n % 7, n); }
