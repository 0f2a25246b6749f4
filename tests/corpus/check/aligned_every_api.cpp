/* Every aligned allocation API returns a pointer with the requested
   alignment, also the first block of a call site, which memdx puts on a
   guard page: memalign, posix_memalign, aligned_alloc (sizes 1..64,
   alignments 16..4096), valloc (sizes 1..64), and the four aligned C++
   operator new variants (sizes 1..64, alignments 16..4096); pvalloc is
   in aligned_pvalloc.c (Valgrind 3.19 aborts on it).
   Each (API, size, alignment) is its own function, so each allocation is
   the first from its call site. A misaligned pointer aborts the program.
   build: -std=c++17 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <new>
#include <utility>
#include "common.h"

static void check(const char *api, void *p, size_t size, size_t align) {
  if (p == nullptr || (uintptr_t)p % align != 0) {
    fprintf(stderr, "%s(size %zu, alignment %zu) returned %p\n", api, size, align, p);
    abort();
  }
  /* The whole block is usable. */
  for (size_t i = 0; i < size; i++) ((volatile char *)p)[i] = (char)i;
}

template <size_t S, size_t A> __attribute__((noinline)) void aligned_c() {
  void *a = memalign(A, S); ESCAPE(a); check("memalign", a, S, A); free(a);
  void *b = nullptr;
  if (posix_memalign(&b, A, S) != 0) b = nullptr;
  ESCAPE(b); check("posix_memalign", b, S, A); free(b);
  void *c = aligned_alloc(A, S); ESCAPE(c); check("aligned_alloc", c, S, A); free(c);
}

template <size_t S, size_t A> __attribute__((noinline)) void aligned_new() {
  const std::align_val_t al{A};
  void *a = operator new(S, al); ESCAPE(a); check("operator new", a, S, A);
  operator delete(a, al);
  void *b = operator new[](S, al); ESCAPE(b); check("operator new[]", b, S, A);
  operator delete[](b, al);
  void *c = operator new(S, al, std::nothrow); ESCAPE(c);
  check("operator new(nothrow)", c, S, A); operator delete(c, al, std::nothrow);
  void *d = operator new[](S, al, std::nothrow); ESCAPE(d);
  check("operator new[](nothrow)", d, S, A); operator delete[](d, al, std::nothrow);
}

template <size_t S> __attribute__((noinline)) void page_aligned() {
  void *a = valloc(S); ESCAPE(a); check("valloc", a, S, 4096); free(a);
}

template <size_t S, size_t... Shift> void every_alignment(std::index_sequence<Shift...>) {
  ((aligned_c<S, (size_t)16 << Shift>(), aligned_new<S, (size_t)16 << Shift>()), ...);
  page_aligned<S>();
}

template <size_t... Size> void every_size(std::index_sequence<Size...>) {
  /* alignments 16 << 0 .. 16 << 8 = 16 .. 4096 */
  (every_alignment<Size + 1>(std::make_index_sequence<9>{}), ...);
}

int main() {
  every_size(std::make_index_sequence<64>{});
  puts("all aligned");
  return 0;
}
