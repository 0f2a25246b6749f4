/* A process for the recorder tests (crates/memdx/tests/record.rs).
 *   record_leaker leak    touches 1 MiB more every 50 ms and never frees it
 *   record_leaker steady  touches 32 MiB once and keeps it
 * Prints "ready" after its first allocation; exits by itself after 60 s so a
 * test that dies cannot leave it behind. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void *touched(size_t bytes) {
    char *p = malloc(bytes);
    if (!p) {
        perror("malloc");
        exit(2);
    }
    memset(p, 0x5a, bytes);
    return p;
}

int main(int argc, char **argv) {
    int leak = argc > 1 && strcmp(argv[1], "leak") == 0;
    void *keep = touched(leak ? 1 << 20 : 32 << 20);
    printf("ready\n");
    fflush(stdout);
    time_t end = time(NULL) + 60;
    while (time(NULL) < end) {
        usleep(50 * 1000);
        if (leak && !touched(1 << 20)) /* the pointer is dropped: a leak */
            return 3;
    }
    return keep == NULL;
}
