// Mismatched allocation and deallocation functions, and leaks from template
// functions whose names need XML escaping (<, >, &).
#include <cstdlib>
#include <new>

#define ESCAPE(p) __asm__ volatile("" : : "g"(p) : "memory")

template <typename T, int N> __attribute__((noinline)) T *make_array() { return new T[N]; }
template <typename T> __attribute__((noinline)) bool leak_if(T &&v) { T *p = new T(v); ESCAPE(p); return v && p; }

int main() {
    int *a = new int[4]; ESCAPE(a); delete a;           // new[] / delete
    int *b = static_cast<int *>(std::malloc(8)); ESCAPE(b); delete b; // malloc / delete
    long *c = new long; ESCAPE(c); std::free(c);        // new / free
    double *d = make_array<double, 3>(); ESCAPE(d); d = nullptr;      // leak
    return leak_if(42) ? 0 : 1;
}
