/* syscall_param_wild.c built at -O0.
   expect-error: Syscall param write(buf) points to unaddressable byte(s)
   expect-error: Syscall param read(buf) points to unaddressable byte(s)
   expect-error: Syscall param writev(vector[...]) points to unaddressable byte(s)
   expect-error: Syscall param readv(vector[...]) points to unaddressable byte(s)
   expect-error: Syscall param socketcall.sendto(msg) points to unaddressable byte(s)
   expect-error: Syscall param socketcall.recvfrom(buf) points to unaddressable byte(s)
   build: -O0 */
#include "syscall_param_wild.c"
