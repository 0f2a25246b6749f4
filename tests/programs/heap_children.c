/* `memdx heap --trace-children=yes`'s test program. "fork": the parent
   keeps 3 blocks of 333 bytes, its fork child 10 blocks of 777 bytes (and
   frees a block it inherited, which is not in its recording); the parent
   prints "parent" after waiting for the child. "leak N": N blocks of 4,242
   bytes kept (run by a shell script). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

void *volatile keep[64];

int main(int argc, char **argv) {
  if (argc > 2 && strcmp(argv[1], "leak") == 0) {
    int n = atoi(argv[2]);
    for (int i = 0; i < n && i < 64; i++) keep[i] = malloc(4242); /* leak site */
    return 0;
  }
  keep[0] = malloc(1000);
  pid_t p = fork();
  if (p < 0) return 2;
  if (p == 0) {
    for (int i = 0; i < 10; i++) keep[i + 1] = malloc(777); /* child site */
    free(keep[0]);
    return 0;
  }
  int status = 0;
  waitpid(p, &status, 0);
  free(keep[0]);
  for (int i = 0; i < 3; i++) keep[i + 1] = malloc(333); /* parent site */
  /* write(2), not stdio: no buffer of stdio's in the parent's figures */
  char line[32];
  int n = snprintf(line, sizeof line, "parent %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  if (write(1, line, (size_t)n) != n) return 3;
  return 0;
}
