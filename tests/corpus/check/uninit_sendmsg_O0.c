/* uninit_sendmsg.c built at -O0.
   expect-error: Syscall param sendmsg(msg.msg_iov[1]) points to uninitialised byte(s)
   build: -O0 */
#include "uninit_sendmsg.c"
