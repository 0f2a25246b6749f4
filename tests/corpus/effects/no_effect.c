/* Reads uninitialised heap memory (a word loaded and dropped, a block
   copied and freed unread) but does nothing that depends on it.
   uninit-effects: none */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    int *p = malloc(64 * sizeof(int));
    volatile int sink = p[3];
    (void)sink;
    int *q = malloc(64 * sizeof(int));
    memcpy(q, p, 64 * sizeof(int));
    for (int i = 0; i < 64; i++)
        p[i] = i;
    long sum = 0;
    for (int i = 0; i < 64; i++)
        sum += p[i];
    printf("sum %ld\n", sum);
    free(q);
    free(p);
    return 0;
}
