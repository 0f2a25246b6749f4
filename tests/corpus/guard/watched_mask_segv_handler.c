/* A watched block read inside the program's own SIGSEGV handler, which
   the kernel runs with SIGSEGV blocked (as Rust's stack-overflow handler
   reads its thread's data). A fault on a closed page while SIGSEGV is
   blocked would kill the process; natively and under Valgrind it runs.
   No error.
   memdx-options: --watch-blocks=yes
*/
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common.h"

static int *data;
static volatile int sum;

static void on_segv(int sig) {
    (void)sig;
    for (int i = 0; i < 10; i++) sum += data[i];
}

int main(void) {
    data = malloc(10 * sizeof(int));
    ESCAPE(data);
    for (int i = 0; i < 10; i++) data[i] = 4 * i;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_segv;
    if (sigaction(SIGSEGV, &sa, NULL) != 0) return 2;
    raise(SIGSEGV);
    printf("%d\n", sum);
    free(data);
    return 0;
}
