/* A buffer overflow on the stack overwrites the saved registers and the
   return address with garbage; the function returns to an unmapped
   address with a garbage stack. The report must not depend on that
   stack: the invalid jump, the fatal SIGSEGV and the leak summary are
   reported, and the process dies by SIGSEGV as natively.
   expect: definitely lost: 32 bytes in 1 blocks
   expect-signal: 11
   expect-error: Jump to the invalid address stated on the next line */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "common.h"
__attribute__((noinline)) static void leak(void) { void *p = malloc(32); ESCAPE(p); }
__attribute__((noinline)) static void smash(const uintptr_t *src, size_t n) {
    uintptr_t buf[2];
    for (size_t i = 0; i < n; i++) ((volatile uintptr_t *)buf)[i] = src[i];
    ESCAPE(buf);
}
int main(void) {
    uintptr_t junk[64];
    /* Garbage up to the return address, zeros after it (where Valgrind's
       unwinder would take every word for a return address). */
    for (int i = 0; i < 64; i++) junk[i] = i <= 3 ? 0x41414000u + 8 * i : 0;
    leak();
    smash(junk, 64);
    return 0;
}
