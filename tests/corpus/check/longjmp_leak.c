/* longjmp out of four nested calls, each holding a block only in a local
   (lost) and one stored in a global (freed later); then a thousand
   setjmp/longjmp rounds that free before jumping (no leak).
   expect: definitely lost: 400 bytes in 4 blocks */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common.h"
static jmp_buf env;
static void *kept[4];
__attribute__((noinline)) static void deep(int n) {
  char *local = malloc(100);
  memset(local, n, 100);
  ESCAPE(local);
  kept[n] = malloc(10);
  if (n == 3) longjmp(env, 1);
  deep(n + 1);
  free(local);
}
/* Overwrites the dead frames deep() left below main's, so no stale copy
   of a lost pointer stays in stack memory that is scanned at exit. */
__attribute__((noinline)) static void scrub(void) {
  volatile char pad[16384];
  for (size_t i = 0; i < sizeof pad; i++) pad[i] = 0;
}
static jmp_buf env2;
__attribute__((noinline)) static void clean(int i) {
  char *p = malloc(64 + i % 7);
  ESCAPE(p);
  free(p);
  longjmp(env2, i + 1);
}
int main(void) {
  if (setjmp(env) == 0) deep(0);
  scrub();
  for (int i = 0; i < 4; i++) free(kept[i]);
  volatile int rounds = 0;
  if (setjmp(env2) < 1000) { rounds++; clean(rounds); }
  printf("rounds: %d\n", rounds);
  return 0;
}
