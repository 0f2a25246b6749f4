/* A parent and child with known memory for `memdx ps` tests.
 * Both map SHARED_MB of touched MAP_SHARED anonymous memory; after the fork
 * the parent touches PARENT_MB and the child CHILD_MB of private memory.
 * Each prints "ready <pid>" when done and waits until killed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MB (1024 * 1024)
enum { SHARED_MB = 32, PARENT_MB = 16, CHILD_MB = 8 };

/* Kept in a global so the compiler cannot drop the allocation. */
char *volatile private_block;

static void touch_private(size_t mb) {
    private_block = malloc(mb * MB);
    if (!private_block) exit(2);
    memset(private_block, 0x5a, mb * MB);
}

int main(void) {
    char *shared = mmap(NULL, SHARED_MB * MB, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED) return 2;
    memset(shared, 0xa5, SHARED_MB * MB);
    pid_t child = fork();
    if (child < 0) return 2;
    if (child == 0) {
        /* fork does not copy page tables of shared mappings: fault the
         * shared pages in so both processes map them. */
        volatile char sum = 0;
        for (size_t i = 0; i < (size_t)SHARED_MB * MB; i += 4096) sum += shared[i];
        (void)sum;
    }
    touch_private(child == 0 ? CHILD_MB : PARENT_MB);
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    for (;;) pause();
}
