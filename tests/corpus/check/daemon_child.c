/* daemon(3): the program's own process exits at once and the daemon goes
   on in a fork child. memdx check returns when the program's process
   exits, with its report and status, as Valgrind does; the daemon's report
   is not waited for (with --trace-children=yes neither). With an argument
   DIR the daemon writes its pid to DIR/pid and waits until DIR/release
   exists (check_cli.rs); without, it ends at once.
   expect: definitely lost: 40 bytes in 1 blocks */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "common.h"
__attribute__((noinline)) static void leak(size_t n) { void *p = malloc(n); ESCAPE(p); }
int main(int argc, char **argv) {
  leak(40);
  if (daemon(1, 0) != 0) return 1;
  leak(13);
  if (argc > 1) {
    char path[4096];
    snprintf(path, sizeof path, "%s/pid", argv[1]);
    FILE *f = fopen(path, "w");
    if (!f) return 1;
    fprintf(f, "%d\n", (int)getpid());
    fclose(f);
    snprintf(path, sizeof path, "%s/release", argv[1]);
    for (int i = 0; i < 12000 && access(path, F_OK) != 0; i++) usleep(10000);
  }
  return 0;
}
