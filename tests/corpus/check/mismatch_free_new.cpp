/* expect-error: Mismatched free() / delete / delete [] */
#include <cstdlib>
#include "common.h"
int main() { int *n = new int[4]; ESCAPE(n); free(n); return 0; }
