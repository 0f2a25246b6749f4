/* A watched block read inside a SIGUSR1 handler whose sa_mask blocks
   every signal (SIGSEGV too). A fault on a closed page while SIGSEGV is
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

static void on_usr1(int sig) {
    (void)sig;
    for (int i = 0; i < 10; i++) sum += data[i];
}

int main(void) {
    data = malloc(10 * sizeof(int));
    ESCAPE(data);
    for (int i = 0; i < 10; i++) data[i] = 3 * i;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigfillset(&sa.sa_mask);
    if (sigaction(SIGUSR1, &sa, NULL) != 0) return 2;
    raise(SIGUSR1);
    printf("%d\n", sum);
    free(data);
    return 0;
}
