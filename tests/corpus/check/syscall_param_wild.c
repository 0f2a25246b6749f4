/* System call buffers that are no heap memory at all: a NULL buffer
   with a length (write, read, send, recv), and a writev/readv iovec
   whose base is -1 (Valgrind's own memcheck/tests/writev1.c). The kernel
   answers EFAULT; Valgrind reports "Syscall param write(buf) points to
   unaddressable byte(s)" with "Address 0x0 is not stack'd, malloc'd or
   (recently) free'd" first. Every call still happens (errno printed).
   expect-error: Syscall param write(buf) points to unaddressable byte(s)
   expect-error: Syscall param read(buf) points to unaddressable byte(s)
   expect-error: Syscall param writev(vector[...]) points to unaddressable byte(s)
   expect-error: Syscall param readv(vector[...]) points to unaddressable byte(s)
   expect-error: Syscall param socketcall.sendto(msg) points to unaddressable byte(s)
   expect-error: Syscall param socketcall.recvfrom(buf) points to unaddressable byte(s) */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

static void said(const char *what, long r) {
    printf("%s: %ld %s\n", what, r, r < 0 ? (errno == EFAULT ? "EFAULT" : "other") : "");
}

int main(void) {
    int out = open("/dev/null", O_WRONLY);
    int in = open("/dev/zero", O_RDONLY);
    char *volatile nothing = NULL;
    said("write", write(out, nothing, 10));
    said("read", read(in, nothing, 10));
    struct iovec wild[2] = {{(void *)-1, 64}, {NULL, 0}};
    said("writev", writev(out, wild, 2));
    said("readv", readv(in, wild, 2));
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        return 1;
    said("send", send(sv[0], nothing, 8, 0));
    char ok[8] = "abcdefg";
    send(sv[0], ok, 8, 0);
    said("recv", recv(sv[1], nothing, 8, 0));
    return 0;
}
