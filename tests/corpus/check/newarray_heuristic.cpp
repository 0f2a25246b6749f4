/* new[] of objects with a destructor stores the count before the first
   element; a pointer to the elements keeps the array reachable (Valgrind's
   newarray heuristic). */
#include "common.h"
struct Obj { long v[2]; ~Obj() { v[0] = 0; } };
Obj *objs;
int main() { objs = new Obj[10]; ESCAPE(objs); return 0; }
