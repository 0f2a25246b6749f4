/* Uninitialised heap bytes leaving through stdio: fwrite copies them into
   the stream's buffer (a heap block of its own) and fclose writes that
   out. Valgrind reports at the write inside the C library, with the
   address inside the stream's buffer and, with --track-origins=yes, the
   program's block as the origin.
   expect-error: Syscall param write(buf) points to uninitialised byte(s) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common.h"
__attribute__((noipa)) char *make(size_t n) { return malloc(n); }
int main(void) {
    char *p = make(48);
    memcpy(p, "header: ", 8);
    FILE *f = fopen("/dev/null", "w");
    fwrite(p, 1, 48, f);
    fclose(f);
    free(p);
    printf("done\n");
    return 0;
}
