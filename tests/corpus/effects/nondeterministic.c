/* Prints a different number on every run (its own clock), and its exit
   status also depends on an uninitialised heap word: the variation is
   the program's own, so no site may be blamed.
   uninit-effects: nondeterministic */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    printf("started at %ld.%09ld\n", (long)ts.tv_sec, ts.tv_nsec);
    int *p = malloc(sizeof(int));
    __asm__ volatile("" : : "r"(p) : "memory");
    int status = *p != 0;
    free(p);
    return status;
}
