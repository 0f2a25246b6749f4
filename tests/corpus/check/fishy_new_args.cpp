/* operator new and new[] (nothrow) with a possibly negative size:
   Valgrind's "Argument 'size' of function __builtin_new has a fishy
   (possibly negative) value: -1" (__builtin_vec_new for new[]); both
   return NULL as natively. Not here: the throwing forms (Valgrind aborts
   the program instead of throwing std::bad_alloc; memdx reports and
   throws, as natively).
   expect-error: Argument 'size' of function __builtin_new has a fishy (possibly negative) value: -1
   expect-error: Argument 'size' of function __builtin_vec_new has a fishy (possibly negative) value: -16 */
#include <cstdio>
#include <new>
int main() {
    volatile long m1 = -1;
    void *a = operator new(m1, std::nothrow);
    void *b = operator new[](m1 * 16, std::nothrow);
    std::printf("%p %p\n", a, b);
    return 0;
}
