/* The program's SIGSEGV handler runs on its own small alternate signal
   stack (as Rust's stack-overflow handler does) and calls abort() there:
   the SIGABRT gets its report like any other fatal signal (the leak
   summary), and the process dies by SIGABRT as natively.
   expect: definitely lost: 32 bytes in 1 blocks
   expect-signal: 6 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "common.h"
static char altstack[16384];
__attribute__((noinline)) static void leak(void) { void *p = malloc(32); ESCAPE(p); }
static void on_segv(int sig) {
    (void)sig;
    static const char msg[] = "caught SIGSEGV, aborting\n";
    if (write(1, msg, sizeof msg - 1) < 0) _exit(3);
    abort();
}
int main(void) {
    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) != 0) return 2;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_segv;
    sa.sa_flags = SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSEGV, &sa, NULL) != 0) return 2;
    leak();
    raise(SIGSEGV);
    return 0;
}
