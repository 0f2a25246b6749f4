/* The program catches its own SIGSEGV and jumps out of the handler: under
   memdx it must run as it does natively (same output, exit 0). Valgrind
   reports the invalid read before the program's handler runs, and so does
   memdx (its handler is chained in front of the program's).
   expect-error: Invalid read of size 4
   expect-error: Invalid read of size 4 */
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
static sigjmp_buf env;
static volatile int caught;
static void on_segv(int sig, siginfo_t *info, void *ctx) {
    (void)info; (void)ctx;
    caught = sig;
    siglongjmp(env, 1);
}
__attribute__((noinline)) static int peek(int *p) { return *p; }
int main(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSEGV, &sa, NULL) != 0) return 2;
    struct sigaction now;
    sigaction(SIGSEGV, NULL, &now);
    printf("handler installed: %s\n", now.sa_sigaction == on_segv ? "yes" : "no");
    int *volatile bad = (int *)8;
    if (sigsetjmp(env, 1) == 0) {
        printf("value %d\n", peek(bad));
    } else {
        printf("recovered from signal %d\n", caught);
    }
    if (sigsetjmp(env, 1) == 0) {
        printf("value %d\n", peek(bad + 1));
    } else {
        printf("recovered again from signal %d\n", caught);
    }
    return 0;
}
