/* A heap-allocated std::map that is never deleted: the map object is
   definitely lost, its 50 nodes and the strings' buffers indirectly.
   expect: definitely lost: 48 bytes in 1 blocks
   expect: indirectly lost: 5,650 bytes in 100 blocks */
#include <map>
#include <string>
#include "common.h"
__attribute__((noinline)) static void leak() {
  auto *m = new std::map<int, std::string>();
  for (int i = 0; i < 50; i++) (*m)[i] = std::string(40, 'x');
  ESCAPE(m);
}
int main() { leak(); return 0; }
