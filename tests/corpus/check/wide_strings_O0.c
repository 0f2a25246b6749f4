/* wide_strings.c built at -O0.
   expect-error: Invalid write of size 4
   expect-error: Invalid write of size 4
   expect-error: Invalid read of size 4
   expect-error: Invalid read of size 4
   expect-error: Invalid read of size 4
   expect-error: Invalid read of size 4
   build: -fno-builtin -O0 */
#include "wide_strings.c"
