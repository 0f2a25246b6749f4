/* An argv and an envp built in the heap, given to posix_spawn and to
   execve (valgrind's launcher builds its tool's argv so), and a status
   word in the heap given to waitpid: they must work as natively. No
   error.
   memdx-options: --watch-blocks=yes
*/
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "common.h"
extern char **environ;
int main(void) {
    char **argv = malloc(4 * sizeof *argv);
    char **envp = malloc(2 * sizeof *envp);
    char *prog = malloc(16), *word = malloc(16), *var = malloc(16);
    int *status = malloc(sizeof *status);
    ESCAPE(argv); ESCAPE(envp); ESCAPE(prog); ESCAPE(word); ESCAPE(var);
    ESCAPE(status);
    strcpy(prog, "/bin/echo");
    strcpy(word, "spawned");
    strcpy(var, "MEMDX_W=1");
    argv[0] = prog; argv[1] = word; argv[2] = NULL;
    envp[0] = var; envp[1] = NULL;
    fflush(stdout);
    pid_t pid;
    if (posix_spawn(&pid, prog, NULL, NULL, argv, envp) != 0) return 2;
    if (waitpid(pid, status, 0) != pid || *status != 0) return 3;
    strcpy(word, "exec'd");
    pid = fork();
    if (pid == 0) {
        execve(prog, argv, envp);
        _exit(99);
    }
    if (waitpid(pid, status, 0) != pid || *status != 0) return 4;
    free(argv); free(envp); free(prog); free(word); free(var); free(status);
    return 0;
}
