/* System calls given blocks too small or freed, other calls and sizes
   than syscall_param_unaddressable.c: read(2) of 32 bytes into a 20-byte
   block, recv of 40 into one, pwrite from a freed block, pread of 28
   into one. Valgrind: "Syscall param read(buf) points to unaddressable
   byte(s)" (socketcall.recvfrom(buf), pwrite64(buf), pread64(buf)) with
   the first unaddressable byte. Every call still happens (the results
   are printed).
   expect-error: Syscall param read(buf) points to unaddressable byte(s)
   expect-error: Syscall param socketcall.recvfrom(buf) points to unaddressable byte(s)
   expect-error: Syscall param pwrite64(buf) points to unaddressable byte(s)
   expect-error: Syscall param pread64(buf) points to unaddressable byte(s) */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "common.h"
__attribute__((noipa)) char *make(size_t n) { return malloc(n); }
char *keep[16];
int main(void) {
    /* Blocks 0 and 1 of the call site are guarded; 4 to 7 are ordinary. */
    for (int i = 0; i < 16; i++) {
        keep[i] = make(20);
        ESCAPE(keep[i]);
    }
    int fd = open("/dev/zero", O_RDONLY);
    ssize_t r1 = read(fd, keep[4], 32);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        return 1;
    char msg[40];
    memset(msg, 'm', sizeof msg);
    ssize_t w = write(sv[0], msg, sizeof msg);
    ssize_t r2 = recv(sv[1], keep[5], 40, 0);
    int out = open("/dev/null", O_WRONLY);
    char *gone = keep[6];
    memset(gone, 'g', 20);
    free(gone);
    ssize_t r3 = pwrite(out, gone, 20, 0);
    ssize_t r4 = pread(fd, keep[7], 28, 0);
    printf("%zd %zd %zd %zd %zd\n", r1, w, r2, r3, r4);
    return 0;
}
