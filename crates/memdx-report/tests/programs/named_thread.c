/* A leak from a named thread (the XML's <threadname>) and a client that
 * dies of SIGABRT after leaking (the XML's <fatal_signal>). */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>

#define ESCAPE(p) __asm__ volatile("" : : "g"(p) : "memory")

__attribute__((noinline)) void *worker(void *arg) {
    pthread_setname_np(pthread_self(), "memdx-worker");
    char *p = malloc(24); ESCAPE(p); p[30] = 0; p = 0; return arg;
}

int main(int argc, char **argv) {
    pthread_t t;
    pthread_create(&t, 0, worker, 0);
    pthread_join(t, 0);
    char *q = malloc(7); ESCAPE(q); q = 0;
    if (argc > 1 && argv[1][0] == 'a') abort();
    return 0;
}
