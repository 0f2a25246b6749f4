/* Stacks the per-thread stack cache must answer without unwinding:
     one N      N malloc/free pairs from one call site (malloc's and free's
                entries must not evict each other);
     sites N    N new/free pairs from 320 call stacks in turn (64 functions,
                each reached through a recursion of depth 0-4), more than
                a handful of entries can hold;
     threads N  four threads, each N pairs from one site, then exiting (each
                thread's cache is made and unmapped);
     tree N     a tree of N nodes built and freed recursively, again and
                again, 4 N pairs in all: at one depth the stacks share their
                first frames (malloc from build, called from build) and
                differ further out (the path from the root).
   Every capture is a malloc or a free: 2 N of them (8 N with threads and
   tree). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *volatile sink;

#define SITE(k)                                                   \
  __attribute__((noinline)) static long site##k(int depth) {      \
    volatile int frame = depth; /* used after the call: no tail call */ \
    if (depth > 0) return site##k(depth - 1) + frame;             \
    char *p = malloc(24 + k);                                     \
    sink = p;                                                     \
    free(p);                                                      \
    return k;                                                     \
  }
#define SITE8(a) SITE(a##0) SITE(a##1) SITE(a##2) SITE(a##3) SITE(a##4) \
  SITE(a##5) SITE(a##6) SITE(a##7)
SITE8(1) SITE8(2) SITE8(3) SITE8(4) SITE8(5) SITE8(6) SITE8(7) SITE8(8)
#define REF8(a) site##a##0, site##a##1, site##a##2, site##a##3, site##a##4, \
  site##a##5, site##a##6, site##a##7
static long (*const sites[64])(int) = {REF8(1), REF8(2), REF8(3), REF8(4),
                                       REF8(5), REF8(6), REF8(7), REF8(8)};

__attribute__((noinline)) static void pairs(long n) {
  for (long i = 0; i < n; i++) {
    char *p = malloc(16 + i % 64);
    sink = p;
    free(p);
  }
}

struct node {
  struct node *left, *right;
};

/* A tree of `n` nodes, split between the two subtrees unevenly. */
__attribute__((noinline)) static struct node *build(long n) {
  volatile long frame = n; /* used after the calls: no tail call */
  if (n <= 0) return NULL;
  struct node *t = malloc(sizeof *t);
  t->left = build((n - 1) / 3);
  t->right = build(n - 1 - (n - 1) / 3);
  sink = t;
  (void)frame;
  return t;
}

__attribute__((noinline)) static long tear_down(struct node *t) {
  volatile long frame = 1;
  if (!t) return 0;
  long k = tear_down(t->left) + tear_down(t->right) + frame;
  free(t);
  return k;
}

static void *thread_main(void *arg) {
  pairs((long)arg);
  return NULL;
}

int main(int argc, char **argv) {
  long n = argc > 2 ? atol(argv[2]) : 10000;
  const char *mode = argc > 1 ? argv[1] : "one";
  long sum = 0;
  if (strcmp(mode, "one") == 0) {
    pairs(n);
  } else if (strcmp(mode, "sites") == 0) {
    for (long i = 0; i < n; i++) sum += sites[(i * 7) % 64]((int)(i % 5));
  } else if (strcmp(mode, "threads") == 0) {
    pthread_t t[4];
    for (int k = 0; k < 4; k++) pthread_create(&t[k], NULL, thread_main, (void *)n);
    for (int k = 0; k < 4; k++) pthread_join(t[k], NULL);
  } else if (strcmp(mode, "tree") == 0) {
    for (int r = 0; r < 4; r++) sum += tear_down(build(n));
  } else {
    return 2;
  }
  printf("%ld\n", sum);
  return 0;
}
