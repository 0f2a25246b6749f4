/* A failing throwing operator new throws std::bad_alloc through the
   interposed allocator; nothrow new returns null. Clean.
   valgrind: skip Valgrind cannot throw from its operator new and aborts the program */
#include <cstdio>
#include <new>
#include "common.h"
int main() {
  int caught = 0;
  try {
    volatile size_t huge = (size_t)1 << 62;
    char *p = new char[huge];
    ESCAPE(p);
  } catch (const std::bad_alloc &) {
    caught = 1;
  }
  char *q = new (std::nothrow) char[(size_t)1 << 62];
  std::printf("%d %d\n", caught, q == nullptr);
  return 0;
}
