/* Reads a freed block twice from one instruction, started with SIGTRAP
   ignored (inherited): the single-step trap that closes the page again
   must neither kill it nor show: afterwards SIGTRAP still reads as
   ignored and raise(SIGTRAP) is ignored. Used by check_guard.rs. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
__attribute__((noipa)) int get(int *a, int i) { return a[i]; }
int main(void) {
    int *a = malloc(40);
    for (int i = 0; i < 10; i++) a[i] = i;
    free(a);
    volatile int two = 2;
    int sum = 0;
    for (int i = 0; i < two; i++) sum += (get(a, i) | 1) != 0;
    struct sigaction old;
    sigaction(SIGTRAP, NULL, &old);
    printf("reads %d, SIGTRAP ignored %d\n", sum, old.sa_handler == SIG_IGN);
    fflush(stdout);
    raise(SIGTRAP);
    printf("survived\n");
    return 0;
}
