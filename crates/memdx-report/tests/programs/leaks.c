/* Leaks of every kind Valgrind distinguishes: definitely, indirectly and
 * possibly lost, and still reachable; from distinct call chains. */
#include <stdlib.h>
#include <string.h>

void *keep_global;
char *interior;

__attribute__((noinline)) void *make_node(size_t n) { return malloc(n); }
__attribute__((noinline)) void *build_list(int depth) {
    void **head = make_node(32);
    head[0] = depth > 0 ? build_list(depth - 1) : 0;
    return head;
}
__attribute__((noinline)) void leak_calloc(void) { char *volatile p = calloc(10, 10); p[3] = 1; p = 0; }
__attribute__((noinline)) void reachable(void) { keep_global = malloc(77); }
__attribute__((noinline)) void possible(void) { char *p = malloc(64); interior = p + 8; }

int main(void) {
    void *volatile list = build_list(2); /* 1 definite + 2 indirect */
    list = 0;
    leak_calloc();
    reachable();
    possible();
    return 0;
}
