/* 16 threads allocate and free concurrently, passing blocks between each
   other through a shared array; each thread also leaks exactly one 40-byte
   block. Used by the stress test (several runs, no deadlock, right answer).
   expect: definitely lost: 640 bytes in 16 blocks
   build: -pthread
   heap-summary: differs each thread's TLS vector is 16 bytes larger with the runtime loaded */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "common.h"
#define SLOTS 256
static void *_Atomic shared[SLOTS];
static void *work(void *arg) {
  unsigned s = (unsigned)(size_t)arg * 2654435761u;
  for (int i = 0; i < 50000; i++) {
    s = s * 1103515245u + 12345u;
    void *mine = malloc(8 + (s >> 16) % 200);
    memset(mine, 0, 8);
    void *old = __atomic_exchange_n(&shared[(s >> 4) % SLOTS], mine, __ATOMIC_ACQ_REL);
    free(old);
  }
  void *lost = malloc(40); ESCAPE(lost);
  return 0;
}
int main(void) {
  pthread_t t[16];
  for (int i = 0; i < 16; i++) pthread_create(&t[i], 0, work, (void *)(size_t)(i + 1));
  for (int i = 0; i < 16; i++) pthread_join(t[i], 0);
  for (int i = 0; i < SLOTS; i++) free(shared[i]);
  return 0;
}
