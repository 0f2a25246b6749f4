/* Bit tests of memory by a register's bit offset (bt, bts, btr, btc; as
   Valgrind's memcheck/tests/amd64/bt_everything.c): a pointer 100 bytes
   into a 200-byte block, bit offsets -800..799, every bit inside the
   block. The CPU reads the aligned 8-byte chunk around the bit, which for
   the lowest offsets starts 4 bytes before the block; Valgrind checks the
   byte holding the bit: no error. A watched block must say the same.
   memdx-options: --watch-blocks=yes
*/
#include <stdio.h>
#include <stdlib.h>
#include "common.h"

static unsigned char btcq(char *base, long bit) {
    unsigned char r;
    __asm__ __volatile__("btcq %2, %0\n\tsetc %1" : "+m"(*base), "=q"(r) : "r"(bit) : "cc");
    return r;
}

static unsigned char btq(char *base, long bit) {
    unsigned char r;
    __asm__ __volatile__("btq %2, %1\n\tsetc %0" : "=q"(r) : "m"(*base), "r"(bit) : "cc");
    return r;
}

int main(void) {
    char *block = calloc(200, 1);
    ESCAPE(block);
    char *base = block + 100;
    unsigned long sum = 0;
    for (long bit = -800; bit < 800; bit += 7) {
        sum += btcq(base, bit);
        sum += btq(base, bit);
    }
    sum += btcq(base, -800) + btq(base, 799);
    printf("%lu\n", sum);
    free(block);
    return 0;
}
