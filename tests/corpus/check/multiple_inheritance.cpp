/* Only a pointer to the second base of an object is kept: Valgrind's
   multipleinheritance heuristic makes it still reachable. */
#include "common.h"
struct A { virtual ~A() {} long a = 1; };
struct B { virtual ~B() {} long b = 2; };
struct C : A, B { long c = 3; };
B *keep;
int main() { C *c = new C(); keep = c; ESCAPE(keep); c = nullptr; CLOBBER(); return 0; }
