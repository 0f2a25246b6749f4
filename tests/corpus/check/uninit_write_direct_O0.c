/* uninit_write_direct.c built at -O0.
   expect-error: Syscall param write(buf) points to uninitialised byte(s)
   expect-error: Syscall param writev(vector[...]) points to uninitialised byte(s)
   expect-error: Syscall param pwrite64(buf) points to uninitialised byte(s)
   expect-error: Syscall param socketcall.sendto(msg) points to uninitialised byte(s)
   expect: definitely lost: 64 bytes in 1 blocks
   build: -O0 */
#include "uninit_write_direct.c"
