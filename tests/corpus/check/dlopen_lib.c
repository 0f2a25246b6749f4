/* Allocations made inside a library loaded with dlopen (libm's own code
   paths do not allocate; the program allocates through a function pointer
   it got from dlsym: strdup from libc, resolved at run time).
   expect: definitely lost: 6 bytes in 1 blocks
   build: -ldl */
#include <dlfcn.h>
#include <stdlib.h>
#include "common.h"
int main(void) {
  void *h = dlopen("libc.so.6", RTLD_NOW);
  if (!h) return 1;
  char *(*dup)(const char *) = (char *(*)(const char *))dlsym(h, "strdup");
  char *s = dup("hello"); ESCAPE(s); s = 0; CLOBBER();
  dlclose(h);
  return 0;
}
