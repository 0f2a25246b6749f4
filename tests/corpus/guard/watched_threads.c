/* Two threads read and write inside one watched block 200 times in all, within its fault budget (each
   access faults and is stepped: no error, no deadlock, same result as
   natively); then the main thread reads one int past its end.
   build: -pthread
   expect-error: Invalid read of size 4 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include "common.h"
static volatile int sink;
static int *shared;
static void *work(void *arg) {
    long k = (long)arg;
    for (int r = 0; r < 5; r++)
        for (int i = 0; i < 10; i++) ((volatile int *)shared)[i] += (int)k;
    return 0;
}
int main(void) {
    shared = calloc(10, sizeof(int));
    ESCAPE(shared);
    pthread_t t[2];
    for (long k = 0; k < 2; k++) pthread_create(&t[k], 0, work, (void *)(k + 1));
    for (int k = 0; k < 2; k++) pthread_join(t[k], 0);
    sink = ((volatile int *)shared)[10];
    printf("%d\n", shared[0] > 0);
    free(shared);
    return 0;
}
