/* A library heap_attach_target.c loads with dlopen after memdx heap --pid
   has attached ("plugin" mode; crates/memdx/tests/heap_attach.rs): its
   allocations reach the C library through its own GOT, which the runtime
   must redirect when dlopen returns. */
#include <stdlib.h>
#include <string.h>

static char *volatile plugin_sink;

__attribute__((noinline)) char *plugin_leak(size_t n) {
    char *p = malloc(n);
    memset(p, 0x3c, n);
    plugin_sink = p;
    return p;
}
