/* uninit_struct_padding.c built at -O0.
   expect-error: Syscall param write(buf) points to uninitialised byte(s)
   build: -O0 */
#include "uninit_struct_padding.c"
