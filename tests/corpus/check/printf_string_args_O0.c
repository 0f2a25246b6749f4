/* printf_string_args.c built at -O0.
   heap-summary: differs as printf_string_args.c
   expect-error: Invalid read of size 1
   expect-error: Invalid read of size 1
   expect-error: Invalid read of size 1
   expect-error: Invalid read of size 1
   expect-error: Invalid read of size 1
   expect-error: Invalid read of size 1
   expect-error: Invalid read of size 1
   expect-error: Invalid read of size 1
   expect-error: Invalid read of size 1
   expect-error: Invalid read of size 1
   expect-error: Invalid read of size 1
   expect-error: Invalid read of size 1
   expect-error: Invalid read of size 1
   expect-error: Invalid read of size 1
   expect-error: Invalid read of size 1
   expect-error: Invalid read of size 1
   build: -O0 */
#include "printf_string_args.c"
