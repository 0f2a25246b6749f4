/* A read through a garbage pointer whose address no process can map (not
   canonical on x86-64): the kernel raises a general protection fault,
   which gives no fault address. Reported like Valgrind (the access, its
   size, the address computed from the registers and the instruction, then
   the signal with "General Protection Fault"), then the leak report, and
   the process dies by SIGSEGV. The read is in main itself: for this
   fault in a noinline helper, Valgrind 3.19 named the caller as frame 0
   (memdx names the helper), which the XML differential test of frame 0
   would count as a difference.
   expect: definitely lost: 40 bytes in 1 blocks
   expect-error: Invalid read of size 4
   expect-signal: 11 */
#include <stdlib.h>
#include <string.h>
#include "common.h"
int main(void) {
    void *p = malloc(40);
    ESCAPE(p);
    p = NULL;
    long *volatile garbage;
    memset((void *)&garbage, 0xab, sizeof garbage);
    return (int)garbage[2];
}
