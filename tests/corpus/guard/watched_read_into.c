/* The kernel fills and reads watched blocks: read(2), recv(2), write(2)
   and send(2) on the program's own fresh blocks work as natively (a closed
   page would make them fail with EFAULT); no error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "common.h"
int main(void) {
    int fd[2], sv[2];
    char *in = malloc(40), *out = malloc(40), *rbuf = malloc(40);
    ESCAPE(in); ESCAPE(out); ESCAPE(rbuf);
    if (pipe(fd) || socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) return 2;
    strcpy(out, "hello through a pipe");
    if (write(fd[1], out, 21) != 21) return 3;
    if (read(fd[0], in, 40) != 21) return 4;
    if (send(sv[0], in, 21, 0) != 21) return 5;
    if (recv(sv[1], rbuf, 40, 0) != 21) return 6;
    printf("%s\n", rbuf);
    free(in); free(out); free(rbuf);
    return 0;
}
