/* C++: an object from operator new whose members are all set, written
   out whole with write(2): its padding hole (bytes 4-7) was never written.
   expect-error: Syscall param write(buf) points to uninitialised byte(s) */
#include <cstdio>
#include <fcntl.h>
#include <unistd.h>
#include "common.h"
struct Rec {
    int id;
    double value;
};
__attribute__((noipa)) Rec *make() { return new Rec; }
int main() {
    Rec *r = make();
    r->id = 3;
    r->value = 1.5;
    int fd = open("/dev/null", O_WRONLY);
    ssize_t n = write(fd, r, sizeof *r);
    delete r;
    std::printf("%zd\n", n);
    return 0;
}
