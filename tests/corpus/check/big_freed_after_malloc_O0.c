/* big_freed_after_malloc.c built at -O0.
   expect-error: Invalid read of size 1
   expect-error: Invalid write of size 1
   build: -O0 */
#include "big_freed_after_malloc.c"
