/* printf_string_args.c built with _FORTIFY_SOURCE=2: gcc calls __printf_chk,
   __fprintf_chk, __sprintf_chk, __snprintf_chk, __dprintf_chk,
   __asprintf_chk and the __v*_chk functions instead (Valgrind shows them
   in place of printf and the others).
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
   build: -D_FORTIFY_SOURCE=2 */
#include "printf_string_args.c"
