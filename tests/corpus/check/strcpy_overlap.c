/* strcpy within one string: source and destination overlap (Valgrind
   checks this for the string routines; on amd64 it does not for memcpy).
   expect-error: Source and destination overlap in strcpy */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common.h"
int main(void) {
    char *p = malloc(32);
    strcpy(p, "abcdefghij");
    char *volatile src = p + 2;
    strcpy(p, src);
    puts(p);
    free(p);
    return 0;
}
