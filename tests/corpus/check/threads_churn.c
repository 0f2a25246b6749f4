/* 8 threads allocating and freeing concurrently: clean.
   build: -pthread
   heap-summary: differs each thread's TLS vector is 16 bytes larger with the runtime loaded */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "common.h"
static void *work(void *arg) {
  void *slots[64] = {0};
  unsigned s = (unsigned)(size_t)arg;
  for (int i = 0; i < 20000; i++) {
    s = s * 1103515245u + 12345u;
    int k = (s >> 8) % 64;
    free(slots[k]);
    slots[k] = malloc(8 + (s >> 16) % 256);
    memset(slots[k], 0, 8);
  }
  for (int k = 0; k < 64; k++) free(slots[k]);
  return 0;
}
int main(void) {
  pthread_t t[8];
  for (int i = 0; i < 8; i++) pthread_create(&t[i], 0, work, (void *)(size_t)(i + 1));
  for (int i = 0; i < 8; i++) pthread_join(t[i], 0);
  return 0;
}
