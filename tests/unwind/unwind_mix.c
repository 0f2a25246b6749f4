/* Allocation stacks through dlopen'ed libraries that are closed and
   reopened, a signal handler, and recursion (this file is built without
   frame pointers, its libraries one with and one without). */
#include <dlfcn.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
void *volatile sink;
static void handler(int sig) {
  (void)sig;
  sink = malloc(33);
  free(sink);
}
__attribute__((noinline)) static void recurse(int depth) {
  char pad[64];
  memset(pad, depth, sizeof pad);
  sink = malloc((size_t)depth * 8 + 1);
  free(sink);
  if (depth > 0) recurse(depth - 1);
  __asm__ volatile("" : : "r"(pad) : "memory");
}
int main(int argc, char **argv) {
  const char *dir = argc > 1 ? argv[1] : ".";
  signal(SIGUSR1, handler);
  for (int round = 0; round < 12; round++) {
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/unwind_lib_%c.so", dir, round % 3 == 2 ? 'b' : 'a');
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) { printf("dlopen: %s\n", dlerror()); return 2; }
    void (*work)(int) = (void (*)(int))dlsym(h, "lib_work");
    if (!work) { printf("dlsym failed\n"); return 2; }
    work(20 + round);
    dlclose(h);
    raise(SIGUSR1);
    recurse(round * 3);
  }
  puts("done");
  return 0;
}
