/* More fishy allocation arguments: realloc(NULL, -8) is Valgrind's malloc
   ("of function malloc", frame 0 malloc), a calloc whose product
   overflows is no fishy value there (only a failed call), aligned_alloc
   is memalign, posix_memalign shows memalign above it. Sizes other than
   -1. Every call fails as natively (the results are printed).
   expect-error: Argument 'size' of function malloc has a fishy (possibly negative) value: -100
   expect-error: Argument 'size' of function malloc has a fishy (possibly negative) value: -8
   expect-error: Argument 'size' of function memalign has a fishy (possibly negative) value: -32
   expect-error: Argument 'size' of function memalign has a fishy (possibly negative) value: -64 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
__attribute__((noipa)) size_t neg(long v) { return (size_t)v; }
int main(void) {
    void *p = malloc(neg(-100));
    int e0 = errno;
    void *q = calloc(neg(-2), 4);
    void *r = realloc(NULL, neg(-8));
    int e2 = errno;
    void *s = aligned_alloc(16, neg(-32));
    void *t = NULL;
    int e = posix_memalign(&t, 32, neg(-64));
    printf("%d %d %d %d %d %d %d\n", p == NULL, e0 == ENOMEM, q == NULL, r == NULL,
           e2 == ENOMEM, s == NULL, e == ENOMEM);
    return 0;
}
