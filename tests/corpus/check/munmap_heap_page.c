/* The program unmaps a page in the middle of one of its heap blocks
   behind glibc's back and exits: the leak scan must skip the hole (as
   Valgrind does) instead of faulting, and the program ends as natively.
   expect: definitely lost: 32 bytes in 1 blocks */
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include "common.h"
char *arena; /* a root */
__attribute__((noinline)) static void leak(void) { void *p = malloc(32); ESCAPE(p); }
int main(void) {
    leak();
    arena = malloc(4 * 4096);
    char *page = (char *)(((uintptr_t)arena + 4095) & ~(uintptr_t)4095);
    if (munmap(page + 4096, 4096) != 0) return 2;
    return 0;
}
