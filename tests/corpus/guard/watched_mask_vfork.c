/* A vfork'ed child that reads a watched block with every signal blocked,
   as dash runs a command (`sh -c 'ls /'`). A fault on a closed page while
   SIGSEGV is blocked would kill the child; natively and under Valgrind it
   exits 0. No error.
   memdx-options: --watch-blocks=yes
*/
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include "common.h"

int main(void) {
    int *data = malloc(10 * sizeof(int));
    ESCAPE(data);
    for (int i = 0; i < 10; i++) data[i] = 5 * i;
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &old);
    pid_t pid = vfork();
    if (pid == 0) {
        int s = 0;
        for (int i = 0; i < 10; i++) s += data[i];
        _exit(s == 225 ? 0 : 1);
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    int status = -1;
    if (pid < 0 || waitpid(pid, &status, 0) != pid) return 2;
    printf("child status %d\n", status);
    free(data);
    return 0;
}
