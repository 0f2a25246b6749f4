/* uninit_stack_copy.c built at -O0.
   expect-error: Syscall param write(buf) points to uninitialised byte(s)
   expect-error: Syscall param write(buf) points to uninitialised byte(s)
   build: -O0 */
#include "uninit_stack_copy.c"
