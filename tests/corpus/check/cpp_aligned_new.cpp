/* C++17 aligned new/delete (operator new(size_t, align_val_t)): one leaked.
   expect: definitely lost: 128 bytes in 1 blocks
   build: -std=c++17 */
#include "common.h"
struct alignas(64) Line { char bytes[128]; };
int main() {
  Line *a = new Line(); ESCAPE(a); delete a;
  Line *b = new Line[4]; ESCAPE(b); delete[] b;
  Line *c = new Line(); ESCAPE(c); c = nullptr; CLOBBER();
  return 0;
}
