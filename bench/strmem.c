/* Per-call cost of the checked C library routines of strmem.rs in their
   common case (heap pointers, within their blocks): 20M calls each, ns per
   call. Not a test: numbers depend on the machine.

     gcc -O2 -fno-builtin bench/strmem.c -o /tmp/strmem
     /tmp/strmem                                      # native
     target/release/memdx check --leak-check=no -- /tmp/strmem
*/
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
void *__memcpy_chk(void *, const void *, size_t, size_t);
void *__memmove_chk(void *, const void *, size_t, size_t);
void *__memset_chk(void *, int, size_t, size_t);
char *__strcpy_chk(char *, const char *, size_t);
char *__stpcpy_chk(char *, const char *, size_t);
char *__strncpy_chk(char *, const char *, size_t, size_t);
char *__strcat_chk(char *, const char *, size_t);
char *__strncat_chk(char *, const char *, size_t, size_t);
void *__mempcpy_chk(void *, const void *, size_t, size_t);
#define N 20000000L
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e9 + t.tv_nsec; }
#define BENCH(name, expr) do { double t0 = now(); for (long i = 0; i < N; i++) { expr; __asm__ volatile("" ::: "memory"); } \
    printf("%-14s %6.2f ns/call\n", name, (now() - t0) / N); } while (0)
volatile long sink;
int main(void) {
    char *d = malloc(32), *s = malloc(32);
    memset(s, 'a', 31); s[31] = 0;
    char *t = malloc(32); memcpy(t, s, 32); t[30] = 'b';
    volatile size_t n = 24;
    char *volatile vs = s;
    BENCH("memcpy (ref)", memcpy(d, s, n));
    BENCH("strncpy (ref)", strncpy(d, s, n));
    BENCH("__memcpy_chk", __memcpy_chk(d, s, n, 32));
    BENCH("__memmove_chk", __memmove_chk(d, s, n, 32));
    BENCH("__memset_chk", __memset_chk(d, 0, n, 32));
    BENCH("__strcpy_chk", __strcpy_chk(d, s, 32));
    BENCH("__stpcpy_chk", __stpcpy_chk(d, s, 32));
    BENCH("__strncpy_chk", __strncpy_chk(d, s, n, 32));
    char *s8 = malloc(16); strcpy(s8, "abcdefgh");
    BENCH("__strcat_chk", (d[0] = 0, __strcat_chk(d, s8, 32)));
    BENCH("__strncat_chk", (d[0] = 0, __strncat_chk(d, s8, 12, 32)));
    BENCH("__mempcpy_chk", __mempcpy_chk(d, s, n, 32));
    BENCH("mempcpy", mempcpy(d, s, n));
    BENCH("stpncpy", stpncpy(d, s, n));
    BENCH("memchr", sink = (long)memchr(vs, 'z', n));
    BENCH("strcmp", sink = strcmp(vs, t));
    BENCH("strncmp", sink = strncmp(vs, t, n));
    free(d); free(s); free(t);
    return 0;
}
