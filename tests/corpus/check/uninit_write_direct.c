/* Uninitialised heap bytes handed straight to the kernel: a block whose
   first 16 bytes are written goes out whole through write, writev, pwrite
   and send. Valgrind reports the first uninitialised byte of each buffer
   ("Address 0x... is 16 bytes inside a block of size 64 alloc'd") and,
   with --track-origins=yes, the block's allocation as the origin. The
   output goes to /dev/null and a socket, never to stdout (native garbage
   and memdx's fill differ).
   expect-error: Syscall param write(buf) points to uninitialised byte(s)
   expect-error: Syscall param writev(vector[...]) points to uninitialised byte(s)
   expect-error: Syscall param pwrite64(buf) points to uninitialised byte(s)
   expect-error: Syscall param socketcall.sendto(msg) points to uninitialised byte(s)
   expect: definitely lost: 64 bytes in 1 blocks */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include "common.h"
__attribute__((noipa)) char *make(size_t n) { return malloc(n); }
int main(void) {
    char *p = make(64);
    memset(p, 'a', 16);
    int fd = open("/dev/null", O_WRONLY);
    ssize_t r[4];
    r[0] = write(fd, p, 64);
    struct iovec iov[2] = {{p, 8}, {p + 8, 40}};
    r[1] = writev(fd, iov, 2);
    r[2] = pwrite(fd, p, 64, 0);
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    r[3] = send(sv[0], p, 64, 0);
    printf("%zd %zd %zd %zd\n", r[0], r[1], r[2], r[3]);
    p = NULL;
    CLOBBER();
    return 0;
}
