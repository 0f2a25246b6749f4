/* memdx heap: mappings the program makes itself, with known sizes
 * (crates/memdx/tests/heap_mmaps.rs asserts the report's numbers).
 *
 * 1. map_anon() maps 1 MiB (anonymous, private) three times: 3 MiB.
 * 2. The second is unmapped: 2 MiB.
 * 3. grow() mremaps the third to 2 MiB (may move): 3 MiB.
 * 4. map_file() maps 8 KiB of the program's own file (private, read only).
 * 5. map_shared() maps 64 KiB anonymous shared: 3 MiB + 72 KiB, the peak.
 * 6. The shared mapping is unmapped; the first mapping loses its last page.
 * 7. A 4 MiB malloc block (glibc maps it itself: a heap block, not a
 *    mapping of the program's) is allocated and freed.
 * At exit: map_anon 1 MiB - 4 KiB, grow 2 MiB, map_file 8 KiB.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MIB (1024 * 1024)

static void *check(void *p, const char *what) {
    if (p == MAP_FAILED) {
        perror(what);
        exit(2);
    }
    return p;
}

__attribute__((noinline)) static char *map_anon(void) {
    errno = EDOM;
    char *p = check(mmap(NULL, MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
                    "mmap");
    /* A successful call leaves errno alone, under memdx as natively. */
    if (errno != EDOM)
        exit(5);
    p[0] = 1;
    return p;
}

__attribute__((noinline)) static char *grow(char *p) {
    return check(mremap(p, MIB, 2 * MIB, MREMAP_MAYMOVE), "mremap");
}

__attribute__((noinline)) static char *map_file(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        perror(path);
        exit(2);
    }
    char *p = check(mmap(NULL, 8192, PROT_READ, MAP_PRIVATE, fd, 0), "mmap file");
    close(fd);
    return p;
}

__attribute__((noinline)) static char *map_shared(void) {
    return check(mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0),
                 "mmap shared");
}

int main(int argc, char **argv) {
    (void)argc;
    char *a[3];
    for (int i = 0; i < 3; i++)
        a[i] = map_anon();
    if (munmap(a[1], MIB) != 0)
        return 3;
    char *g = grow(a[2]);
    g[2 * MIB - 1] = 1;
    char *f = map_file(argv[0]);
    char *s = map_shared();
    s[0] = f[0];
    if (munmap(s, 65536) != 0 || munmap(a[0] + MIB - 4096, 4096) != 0)
        return 3;
    char *big = malloc(4 * MIB);
    if (!big)
        return 4;
    memset(big, 1, 4 * MIB);
    free(big);
    printf("ok\n");
    return 0;
}
