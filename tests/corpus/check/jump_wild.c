/* A call through a garbage function pointer: the jump to an unmapped
   address is reported as Valgrind does ("Jump to the invalid address
   stated on the next line", the address as frame 0, the caller next), then
   the fatal SIGSEGV and the leak summary; the process dies by SIGSEGV.
   expect: definitely lost: 32 bytes in 1 blocks
   expect-signal: 11
   expect-error: Jump to the invalid address stated on the next line */
#include <stdint.h>
#include <stdlib.h>
#include "common.h"
__attribute__((noinline)) static void leak(void) { void *p = malloc(32); ESCAPE(p); }
int main(void) {
    leak();
    void (*volatile fn)(void) = (void (*)(void))(uintptr_t)0x41414000;
    fn();
    return 0;
}
