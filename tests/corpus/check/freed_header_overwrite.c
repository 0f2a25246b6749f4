/* A write after free lands in the 16 bytes just before a freed block, where
   memdx keeps the block's header, and changes the size recorded there
   (24 becomes 200). The block must still leave the quarantine safely: its
   chunk must not be recycled for the size the damaged header claims (a
   later malloc of that size would get a chunk too small and overrun its
   neighbours; with an earlier runtime this program died by SIGSEGV).
   memdx reports the damage when the block leaves the quarantine, but it
   describes it from the damaged header, as two errors on a block of size
   200: the redzone after its claimed end, and bytes 24 to 31 (the real
   redzone, canary bytes, not poison). Valgrind reports one invalid write
   of size 2, 16 bytes before the freed block.
   expect-error: Invalid write after the end of a block (the writing instruction is unknown)
   expect-error: Invalid write to a freed block (the writing instruction is unknown)
   valgrind: skip memdx keeps its header of the freed block there and describes the damage from it (Valgrind: Invalid write of size 2, 16 bytes before a block of size 24 free'd) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common.h"
static volatile int three = 3;
int main(void) {
    /* The first two blocks of a call site get guard pages: the third is
       an ordinary block, with its header. */
    char *p = NULL;
    for (int i = 0; i < three; i++) {
        p = malloc(24);
        ESCAPE(p);
        free(p);
    }
    /* The low 16 bits of the size in memdx's header: 24 becomes 200. */
    volatile uint16_t *size = (volatile uint16_t *)(p - 16);
    *size = 200;
    /* Push the block out of the quarantine (2,000,000 bytes by default). */
    for (int i = 0; i < 40000; i++) {
        void *q = malloc(100);
        ESCAPE(q);
        free(q);
    }
    /* Blocks of the size the header claims, filled to their last byte. */
    enum { N = 4000 };
    static char *blocks[N];
    for (int i = 0; i < N; i++) {
        blocks[i] = malloc(200);
        memset(blocks[i], i, 200);
    }
    long sum = 0;
    for (int i = 0; i < N; i++) {
        sum += blocks[i][199];
        free(blocks[i]);
    }
    printf("%ld\n", sum);
    return 0;
}
