/* A writable shared mapping of a one-byte file, two pages long, kept in a
   global: its second page lies past the end of the file (SIGBUS when
   touched). The leak scan must skip it instead of dying by SIGBUS; the
   program ends as natively.
   expect: definitely lost: 32 bytes in 1 blocks */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include "common.h"
char *mapped; /* a root */
__attribute__((noinline)) static void leak(void) { void *p = malloc(32); ESCAPE(p); }
int main(void) {
    char path[] = "/tmp/memdx-past-eof-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, "x", 1) != 1) return 2;
    unlink(path);
    mapped = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (mapped == MAP_FAILED) return 3;
    close(fd);
    leak();
    return 0;
}
