/* fishy_realloc_null.c built at -O0.
   expect-error: Argument 'size' of function malloc has a fishy (possibly negative) value: -100
   expect-error: Argument 'size' of function malloc has a fishy (possibly negative) value: -8
   expect-error: Argument 'size' of function memalign has a fishy (possibly negative) value: -32
   expect-error: Argument 'size' of function memalign has a fishy (possibly negative) value: -64
   build: -O0 */
#include "fishy_realloc_null.c"
