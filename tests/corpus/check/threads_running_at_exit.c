/* Four threads still allocating and freeing when main returns: the leak
   scan stops them (signals), scans their stacks and registers, and nothing
   they hold is lost. Must not deadlock. Each live thread's TLS vector is
   held by an interior pointer (possibly lost, 288 bytes each; 272 under
   Valgrind, see thread_alive_at_exit.c).
   expect: possibly lost: 1,152 bytes in 4 blocks
   valgrind: skip which blocks are in flight at exit depends on timing
   build: -pthread */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "common.h"
static void *work(void *arg) {
  void *slots[64] = {0};
  unsigned s = (unsigned)(size_t)arg;
  for (;;) {
    s = s * 1103515245u + 12345u;
    int k = (s >> 8) % 64;
    free(slots[k]);
    slots[k] = malloc(16 + (s >> 16) % 100);
    memset(slots[k], 0, 16);
    ESCAPE(slots);
  }
  return 0;
}
int main(void) {
  pthread_t t[4];
  for (int i = 0; i < 4; i++) pthread_create(&t[i], 0, work, (void *)(size_t)(i + 1));
  struct timespec ts = {0, 50 * 1000 * 1000};
  nanosleep(&ts, 0);
  return 0;
}
