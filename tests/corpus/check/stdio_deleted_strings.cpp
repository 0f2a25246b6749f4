/* stdio_freed_strings.c in C++: a deleted char array given to std::puts,
   std::fputs and strndup ("Invalid read of size 1" at strlen or strnlen
   below them, 0 bytes inside a block of size 64 free'd).
   heap-summary: differs a freed block holds memdx's poison, not the program's empty string, so strndup copies 10 bytes of it
   expect-error: Invalid read of size 1
   expect-error: Invalid read of size 1
   expect-error: Invalid read of size 1 */
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include "common.h"
__attribute__((noipa)) char *make(std::size_t n) { return new char[n](); }
char *keep[8];
int main() {
    if (!std::freopen("/dev/null", "w", stdout)) return 2;
    for (int i = 0; i < 8; i++) {
        keep[i] = make(64);
        ESCAPE(keep[i]);
    }
    for (int i = 4; i < 7; i++) delete[] keep[i];
    std::puts(keep[4]);
    std::fputs(keep[5], stdout);
    char *d = strndup(keep[6], 10);
    ESCAPE(d);
    std::free(d);
    for (int i = 0; i < 4; i++) delete[] keep[i];
    delete[] keep[7];
    return 0;
}
