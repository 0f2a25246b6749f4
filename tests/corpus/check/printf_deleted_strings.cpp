/* printf_string_args.c in C++: std::printf, std::fprintf, std::snprintf
   and std::vsnprintf given a deleted char array (0 bytes inside a block
   of size 64 free'd) and an unterminated one (0 bytes after a block of
   size 10); the doubles formatted around them stay right (exit 1
   otherwise).
   expect-error: Invalid read of size 1
   expect-error: Invalid read of size 1
   expect-error: Invalid read of size 1
   expect-error: Invalid read of size 1 */
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include "common.h"
__attribute__((noipa)) char *make(std::size_t n) { return new char[n](); }
char *keep[8];
__attribute__((noipa)) int format(char *out, std::size_t n, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int r = std::vsnprintf(out, n, fmt, ap);
    va_end(ap);
    return r;
}
int main() {
    if (!std::freopen("/dev/null", "w", stdout)) return 2;
    for (int i = 0; i < 8; i++) {
        keep[i] = make(i < 4 ? 64 : 10);
        ESCAPE(keep[i]);
    }
    for (int i = 4; i < 8; i++) std::memset(keep[i], 'y', 10);
    delete[] keep[2];
    delete[] keep[3];
    char out[128];
    std::printf("%.3f [%s]\n", 0.5, keep[2]);
    std::fprintf(stdout, "[%s] %g\n", keep[3], 1e10);
    std::snprintf(out, sizeof out, "%5.1f [%s]", 2.25, keep[4]);
    if (std::strncmp(out, "  2.2 [yyyyyyyyyy", 17) != 0) return 1;
    format(out, sizeof out, "[%s] %.2f", keep[5], 3.5);
    if (std::strncmp(out, "[yyyyyyyyyy", 11) != 0) return 1;
    delete[] keep[0];
    delete[] keep[1];
    for (int i = 4; i < 8; i++) delete[] keep[i];
    return 0;
}
