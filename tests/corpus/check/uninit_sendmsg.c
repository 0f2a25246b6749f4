/* Uninitialised heap bytes sent by sendmsg: the second of two iovecs
   points to a block of which only the first byte is written. Valgrind
   names the iovec: "Syscall param sendmsg(msg.msg_iov[1]) points to
   uninitialised byte(s)", "Address 0x... is 1 bytes inside a block of
   size 16 alloc'd", and with --track-origins=yes the block's allocation
   as the origin. The bytes go to a socket, never to stdout.
   expect-error: Syscall param sendmsg(msg.msg_iov[1]) points to uninitialised byte(s) */
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
    char *a = make(16), *b = make(16);
    memset(a, 'a', 16);
    b[0] = 'b';
    struct iovec iov[2] = {{a, 16}, {b, 8}};
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = iov;
    m.msg_iovlen = 2;
    ssize_t r = sendmsg(sv[0], &m, 0);
    printf("%zd\n", r);
    free(a);
    free(b);
    return 0;
}
