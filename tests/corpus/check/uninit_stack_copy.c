/* Uninitialised heap bytes copied into stack buffers before they leave:
   Valgrind describes the address as on the thread's stack, in the frame
   that holds the buffer ("in frame #N, created by FN (FILE:LINE)"): a
   buffer of the writing function (frame #1) and one of its caller (frame
   #2). uninit_stack_thread.c does it on a second thread.
   expect-error: Syscall param write(buf) points to uninitialised byte(s)
   expect-error: Syscall param write(buf) points to uninitialised byte(s) */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "common.h"

static int out_fd;

__attribute__((noipa)) char *make(size_t n) { return malloc(n); }

/* The copy is a local of the function that writes it. */
__attribute__((noipa)) ssize_t emit_local(const char *heap) {
    char buf[64];
    memcpy(buf, heap, sizeof buf);
    ssize_t r = write(out_fd, buf, sizeof buf);
    CLOBBER();
    return r;
}

/* The copy is a local of the caller. */
__attribute__((noipa)) ssize_t emit_given(const char *buf, size_t n) {
    ssize_t r = write(out_fd, buf, n);
    CLOBBER();
    return r;
}

__attribute__((noipa)) ssize_t copy_then_emit(const char *heap) {
    char buf[48];
    memcpy(buf, heap, sizeof buf);
    ssize_t r = emit_given(buf, sizeof buf);
    CLOBBER();
    return r;
}

int main(void) {
    out_fd = open("/dev/null", O_WRONLY);
    char *a = make(64);
    memset(a, 'a', 8);
    ssize_t r1 = emit_local(a);
    char *b = make(64);
    memset(b, 'b', 16);
    ssize_t r2 = copy_then_emit(b);
    free(a);
    free(b);
    printf("%zd %zd\n", r1, r2);
    return 0;
}
