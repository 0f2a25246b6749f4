/* exit() called by a second thread while main waits in pause(): the report
   runs with main stopped, and the process ends with the thread's status,
   not main's. libc's freeres is skipped when other threads are alive (they
   could still use its buffers), so its stdio buffer stays reachable.
   expect: definitely lost: 33 bytes in 1 blocks
   expect: possibly lost: 288 bytes in 1 blocks
   expect-exit: 4
   valgrind: skip Valgrind runs freeres after killing the threads, and the TLS vector is 16 bytes smaller
   build: -pthread */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "common.h"
static void *worker(void *arg) { void *p = malloc(33); ESCAPE(p); exit(4); return arg; }
int main(void) {
  printf("start\n");
  fflush(stdout);
  pthread_t t;
  pthread_create(&t, 0, worker, 0);
  pause();
  return 0;
}
