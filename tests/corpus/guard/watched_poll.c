/* Descriptor arrays and event buffers in the heap: pipe, socketpair,
   poll, select, epoll_ctl and epoll_wait write or read them in the
   kernel; they must work as natively. No error.
   memdx-options: --watch-blocks=yes
*/
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>
#include "common.h"
int main(void) {
    int *fds = malloc(2 * sizeof *fds), *sv = malloc(2 * sizeof *sv);
    struct pollfd *pfd = calloc(2, sizeof *pfd);
    fd_set *set = calloc(1, sizeof *set);
    struct epoll_event *ev = calloc(1, sizeof *ev);
    struct epoll_event *got = calloc(4, sizeof *got);
    ESCAPE(fds); ESCAPE(sv); ESCAPE(pfd); ESCAPE(set); ESCAPE(ev); ESCAPE(got);
    if (pipe(fds) != 0) return 2;
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return 3;
    if (write(fds[1], "x", 1) != 1) return 4;
    pfd[0].fd = fds[0]; pfd[0].events = POLLIN;
    pfd[1].fd = sv[0]; pfd[1].events = POLLOUT;
    if (poll(pfd, 2, 1000) != 2 || !(pfd[0].revents & POLLIN)) return 5;
    FD_SET(fds[0], set);
    if (select(fds[0] + 1, set, NULL, NULL, NULL) != 1) return 6;
    int ep = epoll_create1(0);
    if (ep < 0) return 7;
    ev->events = EPOLLIN; ev->data.fd = fds[0];
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[0], ev) != 0) return 8;
    if (epoll_wait(ep, got, 4, 1000) != 1 || got[0].data.fd != fds[0]) return 9;
    puts("poll ok");
    close(ep); close(fds[0]); close(fds[1]); close(sv[0]); close(sv[1]);
    free(fds); free(sv); free(pfd); free(set); free(ev); free(got);
    return 0;
}
