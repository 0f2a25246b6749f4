/* Uninitialised heap bytes copied into a second thread's stack buffer
   before they leave: "Address 0x... is on thread 2's stack", "in frame
   #1, created by emit_local (...)", as Valgrind says it (its stack of a
   thread's write differs: __libc_write and clone, where glibc 2.36's
   threads start from clone3).
   expect-error: Syscall param write(buf) points to uninitialised byte(s)
   build: -pthread
   heap-summary: differs each thread's TLS vector is 16 bytes larger with the runtime loaded */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "common.h"

static int out_fd;

__attribute__((noipa)) char *make(size_t n) { return malloc(n); }

__attribute__((noipa)) ssize_t emit_local(const char *heap) {
    char buf[64];
    memcpy(buf, heap, sizeof buf);
    ssize_t r = write(out_fd, buf, sizeof buf);
    CLOBBER();
    return r;
}

static void *worker(void *arg) {
    return (void *)(size_t)emit_local(arg);
}

int main(void) {
    out_fd = open("/dev/null", O_WRONLY);
    char *c = make(64);
    memset(c, 'c', 4);
    pthread_t t;
    void *r = NULL;
    if (pthread_create(&t, NULL, worker, c) == 0)
        pthread_join(t, &r);
    free(c);
    printf("%zd\n", (ssize_t)(size_t)r);
    return 0;
}
