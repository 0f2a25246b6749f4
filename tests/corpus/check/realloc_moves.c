/* Growing and shrinking with realloc; the final block is freed. Clean. */
#include <stdlib.h>
#include <string.h>
#include "common.h"
int main(void) {
  char *p = malloc(8);
  for (int i = 1; i < 50; i++) { p = realloc(p, (size_t)(i * 37 % 500 + 1)); memset(p, i, 1); }
  ESCAPE(p); free(p); return 0;
}
