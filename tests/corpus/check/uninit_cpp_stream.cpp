/* C++: a partly initialised new[] array written through an ofstream,
   whose buffer (new[] inside libstdc++) carries the bytes to write(2).
   expect-error: Syscall param write(buf) points to uninitialised byte(s) */
#include <cstdio>
#include <cstring>
#include <fstream>
#include "common.h"
__attribute__((noipa)) char *make(size_t n) { return new char[n]; }
int main() {
    char *p = make(64);
    std::memset(p, 'c', 24);
    {
        std::ofstream out("/dev/null", std::ios::binary);
        out.write(p, 64);
    }
    delete[] p;
    std::printf("done\n");
    return 0;
}
