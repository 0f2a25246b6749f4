/* The library dlclose_leak.c loads: it allocates in its constructor (and
   frees in its destructor), leaks from its own functions, keeps a block
   whose only pointer is in its own data segment (gone with the library),
   and hands out blocks the program frees. */
#include <stdlib.h>
#include <string.h>
static char *ctor_block;
static void *kept;
__attribute__((constructor)) static void lib_init(void) { ctor_block = strdup("constructed"); }
__attribute__((destructor)) static void lib_fini(void) { free(ctor_block); }
__attribute__((noinline)) static char *lib_make(size_t n) {
  char *p = malloc(n);
  if (p) memset(p, 'x', n);
  return p;
}
void lib_leak(void) {
  char *p = lib_make(40);
  __asm__ volatile("" : : "g"(p) : "memory");
}
void lib_keep(void) { kept = lib_make(24); }
char *lib_give(size_t n) { return lib_make(n); }
