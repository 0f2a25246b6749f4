/* uninit_stdio.c built at -O0.
   expect-error: Syscall param write(buf) points to uninitialised byte(s)
   build: -O0 */
#include "uninit_stdio.c"
