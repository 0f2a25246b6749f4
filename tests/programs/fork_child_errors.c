/* A parent and its fork child each make a bad free and leak a block
   (--child-silent-after-fork: only the parent's report is printed).
   The child's output comes first: the parent waits for it. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

__attribute__((noipa)) static void *leak(size_t n) { return malloc(n); }

int main(void) {
    char *block = malloc(16);
    pid_t pid = fork();
    if (pid < 0)
        return 1;
    if (pid == 0) {
        leak(24);
        free(block + 8); /* inside a block */
        printf("child done\n");
        return 0;
    }
    int status = 0;
    waitpid(pid, &status, 0);
    leak(40);
    free(block + 4);
    free(block);
    printf("parent done, child status %d\n", status);
    return 0;
}
