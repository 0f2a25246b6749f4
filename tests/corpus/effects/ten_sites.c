/* Exit status depends on one uninitialised heap word, allocated at the
   eighth of ten allocation sites (site7); every other block is written
   whole before it is read.
   uninit-effects: site7, exit status 0 vs 1 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SITE(n)                                                          \
    __attribute__((noinline)) int *site##n(void) {                       \
        int *p = malloc(16 * sizeof(int) + n);                           \
        __asm__ volatile("" : : "r"(p) : "memory");                      \
        return p;                                                        \
    }
SITE(0) SITE(1) SITE(2) SITE(3) SITE(4) SITE(5) SITE(6) SITE(7) SITE(8) SITE(9)

int main(void) {
    int *(*sites[10])(void) = {site0, site1, site2, site3, site4,
                               site5, site6, site7, site8, site9};
    int *blocks[10];
    long sum = 0;
    for (int i = 0; i < 10; i++) {
        blocks[i] = sites[i]();
        if (i == 7) {
            /* Only words 1..15: word 0 is never written. */
            memset(blocks[i] + 1, 1, 15 * sizeof(int));
        } else {
            memset(blocks[i], i + 1, 16 * sizeof(int));
        }
    }
    for (int i = 0; i < 10; i++)
        if (i != 7)
            sum += blocks[i][3];
    printf("sum %ld\n", sum);
    int status = blocks[7][0] != 0;
    for (int i = 0; i < 10; i++)
        free(blocks[i]);
    return status;
}
