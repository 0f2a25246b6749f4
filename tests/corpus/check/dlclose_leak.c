/* A library that allocates is loaded with dlopen, leaks, and is dlclose'd
   before exit: its code is gone when the leaks are reported (frames in it
   print as ???), and a block only its own data pointed to becomes lost.
   Loaded twice, so the second load may land elsewhere; the blocks it hands
   out are freed by the program; its constructor's block by its destructor.
   expect: definitely lost: 128 bytes in 4 blocks
   lib: dlclose_leak_lib
   build: -ldl */
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "common.h"
static void *load(const char *dir) {
  char path[PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/dlclose_leak_lib.so", dir);
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h) { printf("dlopen: %s\n", dlerror()); exit(2); }
  return h;
}
static void round_trip(const char *dir) {
  void *h = load(dir);
  void (*leak)(void) = (void (*)(void))dlsym(h, "lib_leak");
  void (*keep)(void) = (void (*)(void))dlsym(h, "lib_keep");
  char *(*give)(size_t) = (char *(*)(size_t))dlsym(h, "lib_give");
  if (!leak || !keep || !give) { printf("dlsym failed\n"); exit(2); }
  leak();
  keep();
  for (int i = 0; i < 100; i++) free(give(16 + i));
  dlclose(h);
}
int main(int argc, char **argv) {
  (void)argc;
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s", argv[0]);
  char *slash = strrchr(dir, '/');
  if (slash) *slash = 0; else strcpy(dir, ".");
  round_trip(dir);
  round_trip(dir);
  CLOBBER();
  printf("loaded and unloaded twice\n");
  return 0;
}
