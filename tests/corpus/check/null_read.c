/* A read through a NULL pointer kills the program: reported like Valgrind
   (the access, its size from the instruction, the address, then the
   signal), then the leak report, and the process dies by SIGSEGV.
   expect: definitely lost: 24 bytes in 1 blocks
   expect-error: Invalid read of size 4
   expect-signal: 11 */
#include <stdlib.h>
#include "common.h"
struct node { int pad[3]; int value; };
__attribute__((noinline)) static int get(struct node *n) { return n->value; }
int main(void) {
    void *p = malloc(24);
    ESCAPE(p);
    p = NULL;
    struct node *volatile none = NULL;
    return get(none);
}
