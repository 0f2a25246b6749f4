/* expect-error: Mismatched free() / delete / delete [] */
#include <cstdlib>
#include "common.h"
int main() { int *o = (int *)malloc(4); ESCAPE(o); delete o; return 0; }
