/* stdio_freed_strings.c built at -O0.
   heap-summary: differs a freed block holds memdx's poison, not the program's empty string, so strndup copies 10 bytes of it and the /dev/null stream allocates its 4,096-byte buffer for them
   expect-error: Invalid read of size 1
   expect-error: Invalid read of size 1
   expect-error: Invalid read of size 1
   expect-error: Invalid read of size 1
   build: -fno-builtin -O0 */
#include "stdio_freed_strings.c"
