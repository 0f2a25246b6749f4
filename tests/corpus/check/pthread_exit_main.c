/* main calls pthread_exit while a second thread still works: the process
   ends when that thread returns (glibc calls exit(0) on it), and the report
   runs there, with main's thread already gone (a zombie: /proc/self/maps
   of the process is empty then, and the zombie never answers a signal).
   The worker's TLS vector is held by an interior pointer (possibly lost,
   as under Valgrind) and is one slot larger with the runtime loaded: 288
   bytes here, 272 under Valgrind (21 definitely and 272 possibly lost).
   pthread_exit also dlopens libgcc_s under Valgrind (7 more allocations);
   the runtime has loaded it already.
   expect: definitely lost: 21 bytes in 1 blocks
   expect: possibly lost: 288 bytes in 1 blocks
   valgrind: skip the thread's TLS vector is 16 bytes larger with the runtime loaded
   build: -pthread */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "common.h"
__attribute__((noinline)) static void leak(size_t n) { void *p = malloc(n); ESCAPE(p); }
static void *worker(void *arg) {
  usleep(50000); /* main is (very likely) gone by now; either way works */
  void *live[64] = {0};
  for (int i = 0; i < 20000; i++) {
    int k = i % 64;
    free(live[k]);
    live[k] = malloc(8 + i % 200);
  }
  for (int k = 0; k < 64; k++) free(live[k]);
  leak(21);
  printf("worker done\n");
  return arg;
}
int main(void) {
  pthread_t t;
  pthread_create(&t, 0, worker, 0);
  printf("main leaves\n");
  fflush(stdout);
  pthread_exit(0);
}
