/* Only initialised bytes leave: blocks filled by memset, calloc, read(2)
   and realloc copies, written directly and through stdio. No error.
   expect-exit: 0 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "common.h"
__attribute__((noipa)) char *make(size_t n) { return malloc(n); }
int main(void) {
    int fd = open("/dev/null", O_WRONLY);
    int zero = open("/dev/zero", O_RDONLY);
    char *a = make(4096);
    memset(a, 'q', 4096);
    char *b = calloc(1, 4096);
    char *c = make(4096);
    ssize_t got = read(zero, c, 4096);
    char *d = make(100);
    memset(d, 'r', 100);
    d = realloc(d, 50);
    ssize_t r = write(fd, a, 4096) + write(fd, b, 4096) + write(fd, c, 4096) + write(fd, d, 50);
    FILE *f = fopen("/dev/null", "w");
    fwrite(a, 1, 4096, f);
    fprintf(f, "%s %d\n", "text", 42);
    fclose(f);
    free(a);
    free(b);
    free(c);
    free(d);
    printf("%zd %zd\n", got, r);
    return 0;
}
