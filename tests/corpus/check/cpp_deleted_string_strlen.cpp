/* strlen of a deleted std::string's buffer, from a guarded block (the
   first blocks of a call site are guarded: a freed one's page is closed).
   Valgrind: "Invalid read of size 1" at its strlen, 0 bytes inside a block
   of size 41 free'd. memdx reported glibc's vector loop faulting on the
   closed page instead ("Invalid read of size 32" at __strlen_evex). The
   string was emptied before the delete, so its first byte is the only one
   Valgrind reads (memdx cannot know a freed guarded block's old text).
   expect-error: Invalid read of size 1
   build: -fno-builtin */
#include <cstdio>
#include <cstring>
#include <string>
#include "common.h"
__attribute__((noipa)) std::string *make() { return new std::string(40, 'x'); }
int main() {
    std::string *s = make();
    s->clear();
    const char *p = s->c_str();
    delete s;
    size_t n = std::strlen(p);
    ESCAPE(n);
    std::puts("done");
    return 0;
}
