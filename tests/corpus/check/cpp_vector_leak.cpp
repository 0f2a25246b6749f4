/* A heap-allocated vector that is never deleted: the vector object is
   definitely lost, its buffer indirectly.
   expect: definitely lost: 24 bytes in 1 blocks
   expect: indirectly lost: 400 bytes in 1 blocks */
#include <vector>
#include "common.h"
__attribute__((noinline)) static void leak() {
  auto *v = new std::vector<int>(100, 1); ESCAPE(v);
}
int main() { leak(); return 0; }
