/* The printf family's %s arguments read outside a block: glibc's
   __vfprintf_internal reads each string with its internal strlen (strnlen
   for a precision), which Valgrind replaces: "Invalid read of size 1" at
   strlen (strnlen) by __vfprintf_internal by printf (fprintf by way of
   buffered_vfprintf for an unbuffered stream, sprintf by way of
   __vsprintf_internal, ...). Unterminated strings (0 bytes after a block
   of size 10), one past the end (2 bytes after), a freed one (0 bytes
   inside a block of size 32 free'd), a string argument passed on the
   stack, after nine doubles, after a long double, with a * precision (4 bytes of 10: no error),
   and through each v* function's va_list. The formatted output of
   integers, doubles and long doubles around them must stay right (exit 1
   otherwise). stdout goes to /dev/null: the bytes after a block are the
   allocator's natively.
   heap-summary: differs glibc reads on past an unterminated string's block into the runtime's redzone bytes (Valgrind's are 0), so asprintf and vasprintf size their results from a longer string
   expect-error: Invalid read of size 1
   expect-error: Invalid read of size 1
   expect-error: Invalid read of size 1
   expect-error: Invalid read of size 1
   expect-error: Invalid read of size 1
   expect-error: Invalid read of size 1
   expect-error: Invalid read of size 1
   expect-error: Invalid read of size 1
   expect-error: Invalid read of size 1
   expect-error: Invalid read of size 1
   expect-error: Invalid read of size 1
   expect-error: Invalid read of size 1
   expect-error: Invalid read of size 1
   expect-error: Invalid read of size 1
   expect-error: Invalid read of size 1
   expect-error: Invalid read of size 1 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common.h"
__attribute__((noipa)) char *make(size_t n) { return malloc(n); }
char *keep[8];
static FILE *unbuffered, *null;

__attribute__((noipa)) int vcall(int which, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char out[256];
    char *o = NULL;
    int r = 0;
    switch (which) {
    case 0: r = vprintf(fmt, ap); break;
    case 1: r = vfprintf(unbuffered, fmt, ap); break;
    case 2: r = vsprintf(out, fmt, ap); break;
    case 3: r = vsnprintf(out, sizeof out, fmt, ap); break;
    case 4: r = vdprintf(fileno(null), fmt, ap); break;
    case 5: r = vasprintf(&o, fmt, ap); free(o); break;
    case 6: r = vsnprintf(out, sizeof out, fmt, ap); if (strcmp(out, "7 2.5 ok 3.25 end z")) r = -1; break;
    }
    va_end(ap);
    return r;
}

int main(void) {
    if (!freopen("/dev/null", "w", stdout)) return 2;
    unbuffered = fopen("/dev/null", "w");
    null = fopen("/dev/null", "w");
    if (!unbuffered || !null) return 3;
    setvbuf(unbuffered, NULL, _IONBF, 0);
    /* Blocks 0 and 1 of the call site are guarded; 2 to 7 are ordinary. */
    for (int i = 0; i < 8; i++) {
        keep[i] = make(10);
        memset(keep[i], 'x', 10);
        ESCAPE(keep[i]);
    }
    char *freed = make(32);
    memset(freed, 0, 32);
    free(freed);
    char out[256];
    char *o = NULL;
    printf("[%s]\n", keep[0]);
    fprintf(unbuffered, "%d [%s] %f\n", 1, keep[1], 2.5);
    sprintf(out, "[%s]", keep[2]);
    snprintf(out, sizeof out, "[%.20s]", keep[3]);
    dprintf(fileno(null), "[%s]", keep[4]);
    if (asprintf(&o, "[%s]", keep[5]) >= 0) free(o);
    printf("%d %d %d %d %d %d [%s]\n", 1, 2, 3, 4, 5, 6, keep[6]);
    printf("%f %f %f %f %f %f %f %f %f [%s]\n", 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, keep[7]);
    printf("%Lf [%s]\n", 1.5L, keep[6] + 12);
    printf("[%*.*s] [%s]\n", 3, 4, keep[2], freed);
    for (int i = 0; i < 6; i++) vcall(i, "%d [%s]", i, keep[2 + i]);
    snprintf(out, sizeof out, "%d %.1f %s %.2Lf %s %c", 7, 2.5, "ok", 3.25L, "end", 'z');
    if (strcmp(out, "7 2.5 ok 3.25 end z")) return 1;
    if (vcall(6, "%d %.1f %s %.2Lf %s %c", 7, 2.5, "ok", 3.25L, "end", 'z') < 0) return 1;
    fclose(unbuffered);
    fclose(null);
    for (int i = 0; i < 8; i++) free(keep[i]);
    return 0;
}
