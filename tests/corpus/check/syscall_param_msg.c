/* sendmsg and recvmsg with an iovec running past the end of its block:
   Valgrind 3.19 reports "Syscall param recvmsg(msg.msg_iov[0]) points to
   unaddressable byte(s)" and "Syscall param sendmsg(msg.msg_iov[1]) ...",
   "Address 0x... is 0 bytes after a block of size N alloc'd", naming the
   iovec at fault. Every call still happens (the results are printed).
   expect-error: Syscall param sendmsg(msg.msg_iov[1]) points to unaddressable byte(s)
   expect-error: Syscall param recvmsg(msg.msg_iov[0]) points to unaddressable byte(s) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "common.h"
__attribute__((noipa)) char *make(size_t n) { return malloc(n); }
int main(void) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) != 0) return 2;
    char *a = make(16), *b = make(24), *in = make(10);
    memset(a, 'a', 16);
    memset(b, 'b', 24);
    /* 8 bytes past b's end: the first unaddressable byte is its end. */
    struct iovec out[2] = {{a, 16}, {b, 32}};
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = out;
    m.msg_iovlen = 2;
    ssize_t sent = sendmsg(sv[0], &m, 0);
    /* Room for 20 bytes in a block of 10. */
    struct iovec back[1] = {{in, 20}};
    m.msg_iov = back;
    m.msg_iovlen = 1;
    ssize_t got = recvmsg(sv[1], &m, MSG_TRUNC);
    printf("%zd %zd\n", sent, got);
    free(a);
    free(b);
    free(in);
    return 0;
}
