/* One of each non-leak memcheck error a heap checker reports: invalid
 * read and write past a block, a read of a freed block, overlapping
 * memcpy, a conditional jump on uninitialised memory, a syscall reading
 * uninitialised bytes, a fishy malloc size, a double free, frees of a
 * stack and an interior address; and one definite leak. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>

#define ESCAPE(p) __asm__ volatile("" : : "g"(p) : "memory")

__attribute__((noinline)) int read_past(void) { int *a = malloc(10 * sizeof *a); ESCAPE(a); int v = a[10]; free(a); return v; }
__attribute__((noinline)) void write_past(void) { char *b = malloc(16); ESCAPE(b); b[16] = 'x'; ESCAPE(b); free(b); }
__attribute__((noinline)) int use_after_free(void) { int *c = malloc(8); ESCAPE(c); free(c); ESCAPE(c); return c[1]; }
__attribute__((noinline)) void overlap(void) {
    char *d = malloc(64); ESCAPE(d); memset(d, 'a', 64);
    d[40] = 0; volatile size_t n = 20; strncpy(d + 4, d, n); ESCAPE(d); free(d);
}
__attribute__((noinline)) void side(void) { ESCAPE(0); }
__attribute__((noinline)) int uninit_cond(void) {
    int *e = malloc(4 * sizeof *e); ESCAPE(e);
    if (e[2] > 3) side();
    free(e); return 1;
}
__attribute__((noinline)) void uninit_syscall(void) {
    char *f = malloc(8); ESCAPE(f); f[0] = 'y';
    int fd = open("/dev/null", O_WRONLY);
    ssize_t w = write(fd, f, 8); (void)w; close(fd); free(f);
}
__attribute__((noinline)) void fishy(void) { volatile long n = -3; void *g = malloc((size_t)n); ESCAPE(g); }
__attribute__((noinline)) void double_free(void) { char *h = malloc(10); ESCAPE(h); free(h); ESCAPE(h); free(h); }
__attribute__((noinline)) void free_stack(void) { int x[4]; ESCAPE(x); free(x); }
__attribute__((noinline)) void free_interior(void) { char *i = malloc(32); ESCAPE(i); free(i + 8); ESCAPE(i); }

int main(void) {
    int s = read_past();
    for (volatile int k = 0; k < 2; k++) write_past(); /* one context, counted twice */
    s += use_after_free();
    overlap();
    s += uninit_cond();
    uninit_syscall();
    fishy();
    double_free();
    free_stack();
    free_interior();
    return s == 12345;
}
