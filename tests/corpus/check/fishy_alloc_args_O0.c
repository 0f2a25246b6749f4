/* fishy_alloc_args.c built at -O0.
   expect-error: Argument 'size' of function malloc has a fishy (possibly negative) value: -1
   expect-error: Argument 'size' of function calloc has a fishy (possibly negative) value: -1
   expect-error: Argument 'nmemb' of function calloc has a fishy (possibly negative) value: -1
   expect-error: Argument 'size' of function realloc has a fishy (possibly negative) value: -2
   expect-error: Argument 'size' of function memalign has a fishy (possibly negative) value: -1
   expect-error: Argument 'size' of function memalign has a fishy (possibly negative) value: -4096
   expect-error: Argument 'size' of function memalign has a fishy (possibly negative) value: -1
   build: -O0 */
#include "fishy_alloc_args.c"
