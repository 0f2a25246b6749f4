/* Big freed blocks held back (Valgrind's --freelist-vol) must never make
   the program's own allocations fail: with the address space limited to
   what the program uses plus 24 MiB, twenty 3 MiB blocks are allocated and
   freed one after the other. Natively glibc reuses the memory; memdx holds
   freed ones until an allocation fails, then gives them back and retries.
   valgrind: skip Valgrind's freed queue makes 14 of the 20 allocations fail here (it keeps its queue when the program runs out of memory); memdx keeps the native outcome */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include "common.h"
__attribute__((noipa)) char *make(size_t n) { return malloc(n); }
int main(void) {
    /* One arena: a thread of the checker that allocates does not reserve
       another arena's 64 MiB of address space under the limit. */
    mallopt(M_ARENA_MAX, 1);
    unsigned long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f || fscanf(f, "%lu", &pages) != 1) return 2;
    fclose(f);
    struct rlimit r = {pages * 4096 + (24ul << 20), pages * 4096 + (24ul << 20)};
    if (setrlimit(RLIMIT_AS, &r) != 0) return 3;
    int failed = 0;
    for (int i = 0; i < 20; i++) {
        char *p = make(3 << 20);
        if (!p) { failed++; continue; }
        memset(p, i, 3 << 20);
        free(p);
    }
    printf("%d failed\n", failed);
    return 0;
}
