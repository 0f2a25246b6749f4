/* A read of 8 bytes through a garbage pointer into unmapped memory, in a
   function called from main: the stack of the access starts in it.
   expect-error: Invalid read of size 8
   expect-signal: 11 */
#include <stdint.h>
#include "common.h"
__attribute__((noinline)) static long deref(long *p) { long v = *p; CLOBBER(); return v + 1; }
int main(void) {
    volatile uintptr_t garbage = 0x7a3100003330ul;
    return (int)deref((long *)garbage);
}
