/* Two objects owning each other through shared_ptr: a lost cycle. The
   control blocks (make_shared: object and counts in one block) are the
   blocks; one is definitely lost, the other indirectly.
   expect: definitely lost: 32 bytes in 1 blocks
   expect: indirectly lost: 32 bytes in 1 blocks */
#include <memory>
#include "common.h"
struct Node { std::shared_ptr<Node> other; };
__attribute__((noinline)) static void make_cycle() {
  auto a = std::make_shared<Node>();
  auto b = std::make_shared<Node>();
  a->other = b;
  b->other = a;
}
int main() { make_cycle(); return 0; }
