/* Leaks from distinct call chains, for the suppression differential test. */
#include <stdlib.h>
#include <string.h>

void *keep_global;
char *interior;

__attribute__((noinline)) void *make_node(size_t n) { return malloc(n); }
__attribute__((noinline)) void *build_list(int depth) {
    void **head = make_node(32);
    if (depth > 0) head[0] = build_list(depth - 1); else head[0] = 0;
    return head;
}
__attribute__((noinline)) void leak_calloc(void) { char *volatile p = calloc(10, 10); p[3] = 1; p = 0; }
__attribute__((noinline)) void leak_realloc(void) { char *volatile p = malloc(10); p = realloc(p, 300); p[0] = 1; p = 0; }
__attribute__((noinline)) void reachable(void) { keep_global = malloc(77); }
__attribute__((noinline)) void possible(void) { char *p = malloc(64); interior = p + 8; }

int main(void) {
    void *volatile list = build_list(3);  /* 4 x 32 bytes: 1 definite + 3 indirect */
    list = 0;
    leak_calloc();
    leak_realloc();
    reachable();
    possible();
    return 0;
}
