/* new(std::nothrow) and the sized delete: clean. */
#include <new>
#include "common.h"
struct S { long a[4]; };
int main() {
  S *s = new (std::nothrow) S(); ESCAPE(s); delete s;
  S *t = new (std::nothrow) S[3]; ESCAPE(t); delete[] t;
  return 0;
}
