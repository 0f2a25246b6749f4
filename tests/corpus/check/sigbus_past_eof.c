/* A read of a shared file mapping past the end of the file: SIGBUS
   (BUS_ADRERR), reported as Valgrind does ("Non-existent physical
   address"), and the process dies by it. Not an invalid access for
   memcheck (the page is mapped).
   expect-signal: 7 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
int main(void) {
    char path[] = "/tmp/memdx-sigbus-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, "x", 1) != 1) return 2;
    unlink(path);
    volatile char *p = mmap(NULL, 8192, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) return 3;
    printf("first byte %c\n", p[0]);
    fflush(stdout);
    return p[4096];
}
