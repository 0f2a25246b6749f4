/* mempcpy and stpncpy: 40 bytes into a 36-byte heap block (4 invalid
   writes each, one context each: Valgrind's byte loops), then each with
   overlapping arguments inside one block (Valgrind prints stpncpy's
   pointers as they are after its copy loop).
   expect-error: Invalid write of size 1
   expect-error: Invalid write of size 1
   expect-error: Source and destination overlap in mempcpy
   expect-error: Source and destination overlap in stpncpy */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common.h"
int main(void) {
    char src[64];
    memset(src, 'b', sizeof src);
    src[63] = 0;
    ESCAPE(src);
    volatile size_t n = 40;
    char *p = malloc(36);
    ESCAPE(p);
    char *e1 = mempcpy(p, src, n);
    ESCAPE(e1);
    char *e2 = stpncpy(p, src, n);
    ESCAPE(e2);
    char *q = malloc(32);
    strcpy(q, "abcdefghijklmnopqrstuvwxyz");
    ESCAPE(q);
    volatile size_t m = 10;
    char *e3 = mempcpy(q, q + 2, m);
    ESCAPE(e3);
    char *e4 = stpncpy(q, q + 2, m);
    ESCAPE(e4);
    printf("%d %d %d %d\n", (int)(e1 - p), (int)(e2 - p), (int)(e3 - q), (int)(e4 - q));
    free(p);
    free(q);
    return 0;
}
