/* Allocation calls with a possibly negative argument: Valgrind's
   "Argument 'size' of function malloc has a fishy (possibly negative)
   value: -1" (calloc's 'nmemb' or 'size'; aligned_alloc and valloc are
   named memalign there). Each call fails as natively (NULL, ENOMEM; the
   results are printed). Not here: posix_memalign (Valgrind shows an
   extra memalign frame) and pvalloc (Valgrind aborts the program).
   expect-error: Argument 'size' of function malloc has a fishy (possibly negative) value: -1
   expect-error: Argument 'size' of function calloc has a fishy (possibly negative) value: -1
   expect-error: Argument 'nmemb' of function calloc has a fishy (possibly negative) value: -1
   expect-error: Argument 'size' of function realloc has a fishy (possibly negative) value: -2
   expect-error: Argument 'size' of function memalign has a fishy (possibly negative) value: -1
   expect-error: Argument 'size' of function memalign has a fishy (possibly negative) value: -4096
   expect-error: Argument 'size' of function memalign has a fishy (possibly negative) value: -1 */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
int main(void) {
    volatile long m1 = -1;
    void *p[7];
    int e[7];
    p[0] = malloc(m1), e[0] = errno;
    p[1] = calloc(1, m1), e[1] = errno;
    p[2] = calloc(m1, 1), e[2] = errno;
    void *q = malloc(10);
    p[3] = realloc(q, m1 - 1), e[3] = errno;
    p[4] = memalign(16, m1), e[4] = errno;
    p[5] = aligned_alloc(4096, m1 * 4096), e[5] = errno;
    p[6] = valloc(m1), e[6] = errno;
    for (int i = 0; i < 7; i++)
        printf("%p %d\n", p[i], e[i]);
    free(q);
    return 0;
}
