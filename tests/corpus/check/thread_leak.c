/* A block leaked by a thread that has exited.
   expect: definitely lost: 48 bytes in 1 blocks
   build: -pthread
   heap-summary: differs each thread's TLS vector is 16 bytes larger with the runtime loaded */
#include <pthread.h>
#include <stdlib.h>
#include "common.h"
static void *work(void *arg) { void *p = malloc(48); ESCAPE(p); return arg; }
int main(void) { pthread_t t; pthread_create(&t, 0, work, 0); pthread_join(t, 0); return 0; }
