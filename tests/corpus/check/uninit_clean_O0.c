/* uninit_clean.c built at -O0.
   expect-exit: 0
   build: -O0 */
#include "uninit_clean.c"
