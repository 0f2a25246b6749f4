/* expect: definitely lost: 16 bytes in 1 blocks
   expect: indirectly lost: 24 bytes in 1 blocks */
#include "common.h"
struct Inner { long x[3]; };
struct Outer { Inner *in; long y; };
__attribute__((noinline)) static void leak() { Outer *o = new Outer{new Inner{}, 1}; ESCAPE(o); }
int main() { leak(); return 0; }
