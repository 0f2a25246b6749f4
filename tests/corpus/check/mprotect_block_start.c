/* The program protects (PROT_NONE) the page where one of its heap blocks
   starts. As under Valgrind, the block is still counted in the heap
   summary, but a pointer to a block that cannot be read does not count
   (memcheck's lc_is_a_chunk_ptr): it is definitely lost, although a global
   points to it. Its header, on the protected page, is read through
   /proc/self/mem. The program ends as natively.
   expect: definitely lost: 8,192 bytes in 1 blocks */
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
char *blocks[3]; /* roots */
int main(void) {
    for (int i = 0; i < 3; i++) blocks[i] = malloc(8192);
    char *page = (char *)((uintptr_t)blocks[1] & ~(uintptr_t)4095);
    if (mprotect(page, 4096, PROT_NONE) != 0) return 2;
    return 0;
}
