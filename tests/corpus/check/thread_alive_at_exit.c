/* A thread still blocked when main returns keeps its block reachable from
   its stack; the thread's own TLS vector is held by an interior pointer
   (possibly lost under Valgrind too). That block holds one more slot under
   memdx (the runtime is one more loaded object with TLS): 288 bytes here,
   272 under Valgrind.
   expect: possibly lost: 288 bytes in 1 blocks
   valgrind: skip the thread's TLS vector is 16 bytes larger with the runtime loaded
   build: -pthread */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "common.h"
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int started;
static void *work(void *arg) {
  char *mine = malloc(77); memset(mine, 1, 77);
  pthread_mutex_lock(&mu); started = 1; pthread_cond_signal(&cv);
  for (;;) pthread_cond_wait(&cv, &mu);
  ESCAPE(mine);
  return arg;
}
int main(void) {
  pthread_t t; pthread_create(&t, 0, work, 0);
  pthread_mutex_lock(&mu); while (!started) pthread_cond_wait(&cv, &mu); pthread_mutex_unlock(&mu);
  return 0;
}
