/* Memory shapes for `memdx watch` tests, paced by the clock (not by sleep
 * lengths), so the rates hold on a busy machine.
 *
 *   watch_mem leak MIB_PER_S SECONDS      touch MIB_PER_S MiB every second
 *   watch_mem stable MIB SECONDS          touch MIB MiB once, then idle
 *   watch_mem sawtooth MIB PERIOD SECONDS grow to MIB MiB over PERIOD s, free it all, again
 *   watch_mem step MIB AT SECONDS         idle, touch MIB MiB at AT s, idle
 *   watch_mem mleak MIB_PER_S SECONDS     as leak, but malloc'd in 64 KiB
 *                                         blocks by leaky_site (never freed)
 *
 * Each exits after SECONDS. Memory comes from mmap (anonymous, private) and
 * is written to, so it is resident and counted in RSS, PSS, USS and anon;
 * mleak's comes from malloc (the heap), written to as well. Any process may
 * ptrace it (PR_SET_PTRACER_ANY), so `memdx doctor --deep` can attach under
 * kernel.yama.ptrace_scope 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>

#define MIB (1024L * 1024L)
#define CHUNK (256L * 1024L)

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void nap(void) {
    struct timespec ts = {0, 5 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

static char *touch(long bytes) {
    char *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        exit(2);
    }
    memset(p, 0x5a, bytes);
    return p;
}

#define BLOCK (64L * 1024L)

/* The leaking function --deep must name. */
__attribute__((noinline)) static char *leaky_site(void) {
    char *p = malloc(BLOCK);
    if (p == NULL) {
        perror("malloc");
        exit(2);
    }
    memset(p, 0x5a, BLOCK);
    return p;
}

/* Where the leaked blocks are kept, so they stay reachable (and live). */
static char **kept;
static long nkept, capkept;

int main(int argc, char **argv) {
#ifdef PR_SET_PTRACER
    prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);
#endif
    if (argc < 4) {
        fprintf(stderr, "usage: watch_mem leak|stable|sawtooth|step ARGS...\n");
        return 2;
    }
    const char *mode = argv[1];
    double a = atof(argv[2]), b = atof(argv[3]);
    double seconds = argc > 4 ? atof(argv[4]) : b;
    double t0 = now();
    if (strcmp(mode, "leak") == 0) {
        long done = 0;
        while (now() - t0 < seconds) {
            long want = (long)(a * MIB * (now() - t0));
            while (done + CHUNK <= want) {
                touch(CHUNK);
                done += CHUNK;
            }
            nap();
        }
    } else if (strcmp(mode, "mleak") == 0) {
        long done = 0;
        while (now() - t0 < seconds) {
            long want = (long)(a * MIB * (now() - t0));
            while (done + BLOCK <= want) {
                if (nkept == capkept) {
                    capkept = capkept ? 2 * capkept : 1024;
                    kept = realloc(kept, capkept * sizeof *kept);
                    if (kept == NULL) {
                        perror("realloc");
                        return 2;
                    }
                }
                kept[nkept++] = leaky_site();
                done += BLOCK;
            }
            nap();
        }
    } else if (strcmp(mode, "stable") == 0) {
        touch((long)(a * MIB));
        while (now() - t0 < b)
            nap();
    } else if (strcmp(mode, "sawtooth") == 0) {
        long top = (long)(a * MIB), n = top / CHUNK;
        char **chunks = calloc(n, sizeof *chunks);
        while (now() - t0 < seconds) {
            double c0 = now();
            long have = 0;
            while (have < n && now() - t0 < seconds) {
                long want = (long)(n * (now() - c0) / b);
                while (have < want && have < n)
                    chunks[have++] = touch(CHUNK);
                nap();
            }
            for (long i = 0; i < have; i++)
                munmap(chunks[i], CHUNK);
        }
    } else if (strcmp(mode, "step") == 0) {
        while (now() - t0 < b)
            nap();
        touch((long)(a * MIB));
        while (now() - t0 < seconds)
            nap();
    } else {
        fprintf(stderr, "watch_mem: unknown mode %s\n", mode);
        return 2;
    }
    return 0;
}
