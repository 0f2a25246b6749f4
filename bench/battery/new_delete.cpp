// One million new/delete pairs from many call sites at varied depths: 64
// template instances (distinct code), each reached through a recursion of
// its own depth, so allocation stacks differ from one pair to the next.
#include <cstdio>
#include <cstdlib>
struct Node {
  long v[4];
  Node *next;
};
static Node *volatile sink;
template <int Site> __attribute__((noinline)) long alloc_at(int depth, long i) {
  if (depth > 0) return alloc_at<Site>(depth - 1, i) + 1;
  Node *n = new Node{{i, Site, 0, 0}, nullptr};
  sink = n;
  long r = n->v[0] + n->v[1];
  delete n;
  return r;
}
template <int N> struct Table {
  static void fill(long (**t)(int, long)) {
    t[N - 1] = alloc_at<N - 1>;
    Table<N - 1>::fill(t);
  }
};
template <> struct Table<0> {
  static void fill(long (**)(int, long)) {}
};
int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 1000000;
  long (*sites[64])(int, long);
  Table<64>::fill(sites);
  long sum = 0;
  for (long i = 0; i < n; i++) sum += sites[(i * 7) % 64]((int)(i % 5), i);
  std::printf("%ld\n", sum);
  return 0;
}
