/* System call buffers outside any block: write past the end of a block,
   from a freed block and from before a block's start; writev with one
   buffer running past a block's end, readv into it; send past a block's
   end and recv into it. Valgrind: "Syscall param write(buf) points to
   unaddressable byte(s)" (writev(vector[...]), readv(vector[...]),
   socketcall.sendto(msg), socketcall.recvfrom(buf)) with the first
   unaddressable byte. Every call still happens (the results are printed).
   Each range is used once: after a read-type call Valgrind marks the
   bytes the kernel wrote addressable, so a second call on the same range
   is no error there (memdx would report it again).
   expect-error: Syscall param write(buf) points to unaddressable byte(s)
   expect-error: Syscall param write(buf) points to unaddressable byte(s)
   expect-error: Syscall param write(buf) points to unaddressable byte(s)
   expect-error: Syscall param writev(vector[...]) points to unaddressable byte(s)
   expect-error: Syscall param readv(vector[...]) points to unaddressable byte(s)
   expect-error: Syscall param socketcall.sendto(msg) points to unaddressable byte(s)
   expect-error: Syscall param socketcall.recvfrom(buf) points to unaddressable byte(s) */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include "common.h"
__attribute__((noipa)) char *make(size_t n) { return malloc(n); }
char *keep[8];
int main(void) {
    /* Blocks 0 and 1 of the call site are guarded; the rest ordinary. */
    for (int i = 0; i < 8; i++) {
        keep[i] = make(100);
        memset(keep[i], 'a', 100);
    }
    int fd = open("/dev/null", O_WRONLY);
    int zero = open("/dev/zero", O_RDONLY);
    char *gone = make(100);
    memset(gone, 'b', 100);
    free(gone);
    ssize_t r[7];
    r[0] = write(fd, keep[4] + 90, 20);
    r[1] = write(fd, gone, 10);
    r[2] = write(fd, keep[4] - 8, 10);
    struct iovec iov[2] = {{keep[6], 10}, {keep[6] + 95, 10}};
    r[3] = writev(fd, iov, 2);
    r[4] = readv(zero, iov, 2);
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    r[5] = send(sv[0], keep[7] + 95, 10, 0);
    r[6] = recv(sv[1], keep[7] + 96, 10, 0);
    for (int i = 0; i < 7; i++)
        printf("%zd ", r[i]);
    printf("\n");
    return 0;
}
