// Leaks from a function template (two instantiations) reached through
// inlined helpers, and from a member of a class template: for
// crates/memdx/tests/check_symbolize.rs (frames compared with Valgrind 3.19).
#include <cstdlib>
#include <cstring>
#include "../corpus/check/common.h"

namespace shapes {
template <typename T, int N> struct Grid {
  __attribute__((noinline)) T *make_row() {
    T *row = static_cast<T *>(malloc(sizeof(T) * N));
    ESCAPE(row);
    return row;
  }
};
}  // namespace shapes

template <typename T> __attribute__((noinline)) T *make(std::size_t n) {
  T *p = new T[n];
  ESCAPE(p);
  return p;
}

static inline __attribute__((always_inline)) char *inner(std::size_t n) {
  char *p = static_cast<char *>(malloc(n));
  ESCAPE(p);
  return p;
}

static inline __attribute__((always_inline)) char *outer(std::size_t n) {
  char *p = inner(n + 1);
  CLOBBER();
  return p;
}

int main() {
  int *a = make<int>(3);
  double *b = make<double>(5);
  shapes::Grid<long, 4> g;
  long *c = g.make_row();
  char *d = outer(9);
  ESCAPE(a);
  ESCAPE(b);
  ESCAPE(c);
  ESCAPE(d);
  a = 0;
  b = 0;
  c = 0;
  d = 0;
  CLOBBER();
  return 0;
}
