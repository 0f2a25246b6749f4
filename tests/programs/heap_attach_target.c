/* A long-running program for `memdx heap --pid` (crates/memdx/tests/heap_attach.rs).
 *
 *   heap_attach_target MODE SECONDS [THREADS | LIBRARY TRIGGER]
 *
 * Before printing "ready" it allocates 20000 blocks; then, for SECONDS, in
 * steps of 1 ms:
 *   leak:    leaks 100 bytes per step from leaky_site() and frees a
 *            before-"ready" block every step;
 *   frees:   frees one before-"ready" block per step (all of them by the
 *            end), and keeps a ring of 64 blocks allocated since, each
 *            freed when its slot comes round again (so blocks allocated
 *            while memdx is attached are freed after it has detached);
 *   threads: THREADS threads each malloc/realloc/free blocks of varying
 *            sizes in a loop, checking that every block holds what they
 *            wrote (no step delay);
 *   threads-check: as threads, then prints whether the program's `malloc`
 *            (its GOT slot) is the C library's again;
 *   plugin:  as frees, and once the file TRIGGER exists (checked every
 *            step) dlopens LIBRARY (heap_attach_plugin.c), leaks 80 bytes
 *            per step from its plugin_leak() for 500 steps, then dlcloses
 *            it (its slots are then gone while memdx may be attached).
 * At the end it frees what it holds and prints a checksum of everything
 * it read back, which does not depend on timing: the same with and
 * without memdx attached. Exit status 0 unless a block was corrupted.
 * HEAP_ATTACH_EXIT=N in the environment: main returns N at the end;
 * =_N: it calls _exit(N) instead.
 * It allows any process to trace it (prctl PR_SET_PTRACER), so memdx can
 * attach under kernel.yama.ptrace_scope 1. */
#include <dlfcn.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BEFORE 20000
#define RING 64

static char *before[BEFORE];
/* Where each leaked block's address goes before it is overwritten: the
   allocation escapes, so the compiler cannot elide it. */
static char *volatile sink;
static volatile int stop;
static int seconds;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) static char *leaky_site(size_t n) {
    char *p = malloc(n);
    memset(p, 0x5a, n);
    sink = p;
    return p;
}

static unsigned long check_block(const char *p, size_t n, int v) {
    unsigned long sum = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] != (char)v) {
            fprintf(stderr, "corrupted block %p at %zu\n", (void *)p, i);
            exit(3);
        }
        sum += (unsigned char)p[i];
    }
    return sum;
}

static void *worker(void *arg) {
    long id = (long)arg;
    unsigned long sum = 0, n = 0;
    char *held[16] = {0};
    size_t sizes[16] = {0};
    unsigned x = (unsigned)id * 2654435761u + 1;
    while (!stop) {
        x = x * 1103515245u + 12345u;
        int k = (x >> 8) & 15;
        if (held[k]) {
            sum += check_block(held[k], sizes[k], k + id);
            if ((x >> 16) & 1) {
                size_t m = 1 + ((x >> 4) & 1023);
                held[k] = realloc(held[k], m);
                sizes[k] = sizes[k] < m ? sizes[k] : m;
                memset(held[k], k + id, sizes[k]);
                held[k] = realloc(held[k], m);
                memset(held[k], k + id, m);
                sizes[k] = m;
                continue;
            }
            free(held[k]);
            held[k] = NULL;
        } else {
            sizes[k] = 1 + ((x >> 4) & 4095);
            held[k] = malloc(sizes[k]);
            memset(held[k], k + id, sizes[k]);
        }
        n++;
    }
    for (int k = 0; k < 16; k++)
        if (held[k]) {
            sum += check_block(held[k], sizes[k], k + id);
            free(held[k]);
        }
    (void)sum;
    return (void *)n;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s leak|frees|threads|threads-check|plugin SECONDS [THREADS | LIBRARY TRIGGER]\n", argv[0]);
        return 2;
    }
    const char *mode = argv[1];
    /* Under kernel.yama.ptrace_scope 1, let memdx (not an ancestor)
       attach; without Yama this fails harmlessly. */
    prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);
    seconds = atoi(argv[2]);
    for (int i = 0; i < BEFORE; i++) {
        before[i] = malloc(16 + i % 200);
        memset(before[i], i & 0x7f, 16 + i % 200);
    }
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    unsigned long sum = 0;
    double end = now() + seconds;
    if (strncmp(mode, "threads", 7) == 0) {
        int n = argc > 3 ? atoi(argv[3]) : 4;
        pthread_t t[64];
        for (long i = 0; i < n && i < 64; i++)
            pthread_create(&t[i], NULL, worker, (void *)i);
        while (now() < end)
            usleep(1000);
        stop = 1;
        for (int i = 0; i < n && i < 64; i++) {
            void *r;
            pthread_join(t[i], &r);
        }
        printf("threads done\n");
        if (strcmp(mode, "threads-check") == 0) {
            /* Read through the GOT (GLOB_DAT) slot the runtime redirects. */
            void *(*volatile mine)(size_t) = malloc;
            void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
            void *real = libc ? dlsym(libc, "malloc") : NULL;
            printf("malloc is the C library's: %s\n", (void *)mine == real ? "yes" : "no");
        }
    } else {
        char *ring[RING] = {0};
        int next = 0, r = 0;
        long steps = 0;
        int plugin = strcmp(mode, "plugin") == 0 && argc > 4;
        void *lib = NULL;
        char *(*plugin_leak)(size_t) = NULL;
        int leaks = 0;
        while (now() < end) {
            if (plugin && !lib && leaks == 0 && access(argv[4], F_OK) == 0) {
                lib = dlopen(argv[3], RTLD_NOW);
                if (!lib) {
                    fprintf(stderr, "%s\n", dlerror());
                    return 4;
                }
                plugin_leak = (char *(*)(size_t))dlsym(lib, "plugin_leak");
            }
            if (lib) {
                sum += (unsigned char)plugin_leak(80)[0];
                if (++leaks == 500) {
                    dlclose(lib);
                    lib = NULL;
                }
            }
            if (strcmp(mode, "leak") == 0) {
                char *p = leaky_site(100);
                sum += (unsigned char)p[0];
            }
            if (next < BEFORE) {
                sum += check_block(before[next], 16 + next % 200, next & 0x7f);
                free(before[next]);
                before[next++] = NULL;
            }
            if (ring[r]) {
                sum += check_block(ring[r], 48, r);
                free(ring[r]);
            }
            ring[r] = malloc(48);
            memset(ring[r], r, 48);
            r = (r + 1) % RING;
            steps++;
            usleep(1000);
        }
        for (int i = 0; i < RING; i++)
            if (ring[i]) free(ring[i]);
        (void)steps;
    }
    /* What is left of the before-"ready" blocks, whatever the timing. */
    unsigned long total = 0;
    for (int i = 0; i < BEFORE; i++) {
        if (before[i]) {
            check_block(before[i], 16 + i % 200, i & 0x7f);
            free(before[i]);
        }
        total += (unsigned long)(16 + i % 200) * (i & 0x7f);
    }
    (void)sum;
    printf("done %lu\n", total);
    const char *how = getenv("HEAP_ATTACH_EXIT");
    if (how && how[0] == '_') {
        fflush(stdout);
        _exit(atoi(how + 1));
    }
    return how ? atoi(how) : 0;
}
