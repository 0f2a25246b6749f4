/* Watched blocks read while SIGSEGV is blocked by sigprocmask and by
   pthread_sigmask (the masks read back are the ones the program set). A
   fault on a closed page while SIGSEGV is blocked would kill the process;
   natively and under Valgrind it runs. No error.
   memdx-options: --watch-blocks=yes
*/
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include "common.h"

static int blocked(int sig) {
    sigset_t now;
    sigprocmask(SIG_SETMASK, NULL, &now);
    return sigismember(&now, sig);
}

int main(void) {
    int *a = malloc(10 * sizeof(int));
    int *b = malloc(10 * sizeof(int));
    sigset_t *segv = malloc(sizeof *segv);
    ESCAPE(a); ESCAPE(b); ESCAPE(segv);
    for (int i = 0; i < 10; i++) { a[i] = i; b[i] = 2 * i; }
    sigset_t old, all;
    sigemptyset(segv);
    sigaddset(segv, SIGSEGV);
    if (sigprocmask(SIG_BLOCK, segv, &old) != 0) return 2;
    if (sigismember(&old, SIGSEGV) || !blocked(SIGSEGV)) return 3;
    int sum = 0;
    for (int i = 0; i < 10; i++) sum += a[i];
    if (sigprocmask(SIG_SETMASK, &old, NULL) != 0 || blocked(SIGSEGV)) return 4;
    sigfillset(&all);
    if (pthread_sigmask(SIG_BLOCK, &all, &old) != 0) return 5;
    if (!blocked(SIGSEGV) || !blocked(SIGTRAP) || sigismember(&old, SIGSEGV)) return 6;
    for (int i = 0; i < 10; i++) sum += b[i];
    if (pthread_sigmask(SIG_SETMASK, &old, NULL) != 0 || blocked(SIGSEGV)) return 7;
    printf("%d\n", sum);
    free(a); free(b); free(segv);
    return 0;
}
