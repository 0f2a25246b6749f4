/* Still reachable through a global: not a leak.
   expect: definitely lost: 0 bytes in 0 blocks */
#include <stdlib.h>
#include <string.h>
void *keep[4];
int main(void) { for (int i = 0; i < 4; i++) { keep[i] = malloc(64); memset(keep[i], 1, 64); } return 0; }
