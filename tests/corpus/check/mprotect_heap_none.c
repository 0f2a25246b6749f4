/* The program makes a page of one of its heap blocks inaccessible
   (PROT_NONE) and exits: the exit-time leak scan must not read it (as
   Valgrind, which scans only readable memory), so the block that only
   this page pointed to is lost, and the program ends as natively.
   expect: definitely lost: 80 bytes in 2 blocks */
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include "common.h"
char *arena; /* a root */
__attribute__((noinline)) static void leak(void) { void *p = malloc(32); ESCAPE(p); }
__attribute__((noinline)) static void hide(char *page) {
    void *p = malloc(48);
    *(void **)page = p;
    ESCAPE(p);
}
int main(void) {
    leak();
    arena = malloc(3 * 4096);
    char *page = (char *)(((uintptr_t)arena + 4095) & ~(uintptr_t)4095);
    hide(page);
    if (mprotect(page, 4096, PROT_NONE) != 0) return 2;
    return 0;
}
