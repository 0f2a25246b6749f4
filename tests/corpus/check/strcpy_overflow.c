/* strcpy of a 12-character string (13 bytes with its NUL) into an 8-byte
   heap block. Valgrind's strcpy copies byte by byte: 4 invalid writes from
   its copy loop (one context, "0 bytes after a block of size 8") and one
   from its store of the NUL (another, "4 bytes after"): 5 errors from 2
   contexts, as memdx reports them.
   expect-error: Invalid write of size 1
   expect-error: Invalid write of size 1 */
#include <stdlib.h>
#include <string.h>
#include "common.h"
int main(void) {
    const char *volatile text = "hello world!";
    char *dst = malloc(8);
    strcpy(dst, text);
    ESCAPE(dst);
    free(dst);
    return 0;
}
