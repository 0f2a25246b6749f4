/* expect-error: Invalid free() / delete / delete[] / realloc() */
#include "common.h"
struct S { long a, b; };
int main() { S *s = new S(); ESCAPE(s); delete s; ESCAPE(s); delete s; return 0; }
