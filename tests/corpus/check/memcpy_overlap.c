/* memcpy with overlapping source and destination in one heap block.
   Valgrind 3.19 does not report this on amd64 (KDE bug 402833: its memcpy
   replacement is its memmove there, without the overlap check), and
   neither does memdx, so a program Valgrind passes passes under memdx;
   strcpy_overlap.c shows the overlap report. The copy is done as glibc
   does it (same stdout as natively). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common.h"
int main(void) {
    char *p = malloc(64);
    for (int i = 0; i < 64; i++) p[i] = 'a' + i % 26;
    volatile size_t n = 32;
    memcpy(p + 8, p, n);
    printf("%.40s\n", p);
    free(p);
    return 0;
}
