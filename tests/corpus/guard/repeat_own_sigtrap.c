/* Reads a freed block twice from one instruction with SIGTRAP blocked, and
   again with the program's own SIGTRAP handler installed: the trap that
   closes the page again after each access is the checker's, never seen by
   the program (its handler runs once, for its own raise; nothing is left
   pending while blocked).
   expect-error: Invalid read of size 4
   expect-error: Invalid read of size 4 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include "common.h"
static volatile sig_atomic_t traps;
static void on_trap(int sig) { (void)sig; traps++; }
__attribute__((noipa)) int get(int *a, int i) { return a[i]; }
__attribute__((noipa)) int get_again(int *a, int i) { return a[i]; }
int main(void) {
    int *a = malloc(40);
    ESCAPE(a);
    for (int i = 0; i < 10; i++) a[i] = i;
    free(a);
    volatile int two = 2; /* not unrolled: one call site each */
    int sum = 0;
    sigset_t trap, pending;
    sigemptyset(&trap);
    sigaddset(&trap, SIGTRAP);
    sigprocmask(SIG_BLOCK, &trap, NULL);
    for (int i = 0; i < two; i++) sum += (get(a, i) | 1) != 0;
    sigpending(&pending);
    int was_pending = sigismember(&pending, SIGTRAP);
    sigprocmask(SIG_UNBLOCK, &trap, NULL);
    signal(SIGTRAP, on_trap);
    raise(SIGTRAP);
    for (int i = 0; i < two; i++) sum += (get_again(a, i) | 1) != 0;
    printf("%d reads, %d traps, pending %d\n", sum, (int)traps, was_pending);
    return 0;
}
