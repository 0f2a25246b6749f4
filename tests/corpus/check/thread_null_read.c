/* A thread reads through a NULL pointer: reported with the thread's stack,
   and the process dies by SIGSEGV.
   expect-error: Invalid read of size 4
   expect-signal: 11
   expect: possibly lost: 288 bytes in 1 blocks
   valgrind: skip the live thread's TLS vector (possibly lost) is 16 bytes larger with the runtime loaded; the rest (Thread 2:, Invalid read of size 4, Address 0x0 ...) is Valgrind's
   build: -pthread */
#include <pthread.h>
#include <stdio.h>
#include "common.h"
__attribute__((noinline)) static void *worker(void *arg) {
    int *volatile p = arg;
    CLOBBER();
    printf("%d\n", *p);
    return NULL;
}
int main(void) {
    pthread_t t;
    pthread_create(&t, NULL, worker, NULL);
    pthread_join(t, NULL);
    return 0;
}
