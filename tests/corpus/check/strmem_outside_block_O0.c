/* strmem_outside_block.c built at -O0.
   expect-error: Invalid write of size 8
   expect-error: Invalid read of size 8
   expect-error: Invalid write of size 8
   expect-error: Invalid write of size 1
   expect-error: Invalid write of size 1
   expect-error: Invalid read of size 1
   expect-error: Invalid write of size 1
   build: -fno-builtin -O0 */
#include "strmem_outside_block.c"
