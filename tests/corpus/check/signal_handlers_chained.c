/* SIGSEGV handlers installed with signal() and with sigaction(SA_RESETHAND)
   both run under memdx as natively (the runtime's handler is chained in
   front: each invalid read is reported first, as Valgrind does); after the
   one-shot handler the default action is back and the third read kills the
   process. sigaction() queries see the program's view.
   expect-error: Invalid read of size 4
   expect-error: Invalid read of size 4
   expect-error: Invalid read of size 4
   expect-signal: 11 */
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
static sigjmp_buf env;
static void h(int s) { siglongjmp(env, s); }
static void h2(int s, siginfo_t *i, void *c) { (void)i; (void)c; siglongjmp(env, 100 + s); }
int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    signal(SIGSEGV, h);
    int r = sigsetjmp(env, 1);
    if (r == 0) { volatile int *p = (int *)16; printf("%d\n", *p); }
    printf("signal() handler: %d\n", r);
    struct sigaction sa; memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = h2; sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
    sigaction(SIGSEGV, &sa, NULL);
    r = sigsetjmp(env, 1);
    if (r == 0) { volatile int *p = (int *)24; printf("%d\n", *p); }
    printf("resethand handler: %d\n", r);
    struct sigaction now; sigaction(SIGSEGV, NULL, &now);
    printf("now default: %d\n", now.sa_handler == SIG_DFL);
    volatile int *p = (int *)32; printf("%d\n", *p);
    return 0;
}
