/* expect-error: Mismatched free() / delete / delete [] */
#include "common.h"
int main() { int *o = new int; ESCAPE(o); delete[] o; return 0; }
