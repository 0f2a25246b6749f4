/* Unbounded recursion on the main thread after a leak: Valgrind names the
   stack overflow ("Stack overflow in thread #1: can't grow stack to ...")
   before and after "Process terminating", shows only the faulting frame
   (the stack pointer is past the stack's end), runs the leak check, and
   the process dies by SIGSEGV. Each frame fills its whole buffer, so no
   stale copy of the leaked pointer (left below main by the allocator's
   own frames) survives in the recursion's frames.
   expect: definitely lost: 10 bytes in 1 blocks
   expect-signal: 11 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common.h"
__attribute__((noipa)) int rec(int n) {
    volatile char buf[256];
    for (int i = 0; i < 256; i++) buf[i] = (char)n;
    return rec(n + 1) + buf[n & 255];
}
__attribute__((noipa)) static void leak(void) { char *p = malloc(10); ESCAPE(p); }
int main(void) {
    leak();
    printf("recursing\n");
    fflush(stdout);
    return rec(0);
}
