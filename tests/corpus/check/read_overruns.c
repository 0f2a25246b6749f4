/* Reading routines past the end of a 36-byte heap block of 'a's with no
   NUL: memchr for a byte that is not there reads all 40 bytes asked (4
   invalid reads, one context); strcmp and strncmp against a longer string
   of 'a's stop at the first byte past the block, which differs from 'a'
   (a redzone byte under both tools): one invalid read each, the block as
   first or second argument (two sites of Valgrind's loop, two contexts).
   The comparison results are not printed: they depend on the redzone.
   memcmp is not checked (Valgrind compares words and reports uninitialised
   bytes there, not invalid reads).
   expect-error: Invalid read of size 1
   expect-error: Invalid read of size 1
   expect-error: Invalid read of size 1
   expect-error: Invalid read of size 1 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common.h"
typedef void *(*memchr_fn)(const void *, int, size_t);
typedef int (*strcmp_fn)(const char *, const char *);
typedef int (*strncmp_fn)(const char *, const char *, size_t);
/* Called through pointers: the compiler may not inline or fold them. */
memchr_fn volatile my_memchr = memchr;
strcmp_fn volatile my_strcmp = strcmp;
strncmp_fn volatile my_strncmp = strncmp;
int main(void) {
    char *p = malloc(36);
    memset(p, 'a', 36);
    char other[64];
    memset(other, 'a', 63);
    other[63] = 0;
    ESCAPE(p);
    ESCAPE(other);
    volatile size_t n = 40;
    int found = my_memchr(p, 'z', n) != NULL;
    int c1 = my_strcmp(p, other);
    int c2 = my_strcmp(other, p);
    int c3 = my_strncmp(p, other, n);
    ESCAPE(&c1);
    ESCAPE(&c2);
    ESCAPE(&c3);
    printf("found %d\n", found);
    free(p);
    return 0;
}
