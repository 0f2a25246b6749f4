/* A struct whose members are all set still has padding holes the program
   never wrote (bytes 4-7 before the double and 17-23 after the char):
   written out whole, its first hole is reported.
   expect-error: Syscall param write(buf) points to uninitialised byte(s) */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "common.h"
struct rec {
    int id;
    double value;
    char tag;
};
__attribute__((noipa)) struct rec *make(void) { return malloc(sizeof(struct rec)); }
int main(void) {
    struct rec *r = make();
    r->id = 7;
    r->value = 2.5;
    r->tag = 'k';
    int fd = open("/dev/null", O_WRONLY);
    ssize_t n = write(fd, r, sizeof *r);
    free(r);
    printf("%zd\n", n);
    return 0;
}
