/* A message header, its iovec array, its buffers and a socket address in
   the heap: sendmsg, recvmsg, getsockname and getsockopt read or fill
   them in the kernel, as writev does an iovec array in the heap; they
   must work as natively. No error.
   memdx-options: --watch-blocks=yes
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>
#include "common.h"
int main(void) {
    int sv[2];
    struct msghdr *out = calloc(1, sizeof *out), *in = calloc(1, sizeof *in);
    struct iovec *oiov = calloc(1, sizeof *oiov), *iiov = calloc(1, sizeof *iiov);
    char *data = malloc(32), *back = calloc(1, 32);
    struct sockaddr_un *addr = calloc(1, sizeof *addr);
    socklen_t *len = malloc(sizeof *len);
    int *val = calloc(1, sizeof *val);
    struct iovec *wv = calloc(2, sizeof *wv);
    ESCAPE(wv);
    ESCAPE(out); ESCAPE(in); ESCAPE(oiov); ESCAPE(iiov); ESCAPE(data);
    ESCAPE(back); ESCAPE(addr); ESCAPE(len); ESCAPE(val);
    if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) != 0) return 2;
    strcpy(data, "a message");
    oiov->iov_base = data; oiov->iov_len = 10;
    out->msg_iov = oiov; out->msg_iovlen = 1;
    if (sendmsg(sv[0], out, 0) != 10) return 3;
    iiov->iov_base = back; iiov->iov_len = 32;
    in->msg_iov = iiov; in->msg_iovlen = 1;
    if (recvmsg(sv[1], in, 0) != 10 || strcmp(back, "a message") != 0) return 4;
    *len = sizeof *addr;
    if (getsockname(sv[0], (struct sockaddr *)addr, len) != 0) return 5;
    *len = sizeof *val;
    if (getsockopt(sv[0], SOL_SOCKET, SO_TYPE, val, len) != 0 || *val != SOCK_DGRAM) return 6;
    wv[0].iov_base = back; wv[0].iov_len = 2;
    wv[1].iov_base = data; wv[1].iov_len = 1;
    if (writev(sv[0], wv, 2) != 3) return 7;
    puts(back);
    close(sv[0]); close(sv[1]);
    free(out); free(in); free(oiov); free(iiov); free(data); free(back);
    free(addr); free(len); free(val); free(wv);
    return 0;
}
