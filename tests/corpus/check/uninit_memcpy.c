/* Uninitialised bytes copied into another block before they leave: the
   error names the block written out (the copy), the origin names the
   block the bytes came from.
   expect-error: Syscall param write(buf) points to uninitialised byte(s) */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "common.h"
__attribute__((noipa)) char *make(size_t n) { return malloc(n); }
__attribute__((noipa)) char *make_copy(size_t n) { return malloc(n); }
int main(void) {
    char *src = make(40);
    memset(src, 'x', 8);
    char *dst = make_copy(40);
    memcpy(dst, src, 40);
    int fd = open("/dev/null", O_WRONLY);
    ssize_t r = write(fd, dst, 40);
    free(src);
    free(dst);
    printf("%zd\n", r);
    return 0;
}
