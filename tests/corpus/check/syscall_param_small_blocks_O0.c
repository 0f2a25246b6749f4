/* syscall_param_small_blocks.c built at -O0.
   expect-error: Syscall param read(buf) points to unaddressable byte(s)
   expect-error: Syscall param socketcall.recvfrom(buf) points to unaddressable byte(s)
   expect-error: Syscall param pwrite64(buf) points to unaddressable byte(s)
   expect-error: Syscall param pread64(buf) points to unaddressable byte(s)
   build: -O0 */
#include "syscall_param_small_blocks.c"
