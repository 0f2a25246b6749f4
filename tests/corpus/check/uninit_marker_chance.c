/* Initialised data that contains every byte value at every offset of an
   8-byte word, and a megabyte of pseudo-random bytes, written from heap
   blocks directly and through stdio: whatever bytes memdx's fill uses
   occur here by chance, one or a few at a time. No error.
   expect-exit: 0 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "common.h"
__attribute__((noipa)) unsigned char *make(size_t n) { return malloc(n); }
int main(void) {
    int fd = open("/dev/null", O_WRONLY);
    /* Every value v at every offset k: byte 8*v + k holds v. */
    unsigned char *all = make(256 * 8);
    for (int v = 0; v < 256; v++)
        for (int k = 0; k < 8; k++)
            all[8 * v + k] = (unsigned char)v;
    size_t n = 1 << 20;
    unsigned char *rnd = make(n);
    uint64_t x = 0x9e3779b97f4a7c15u;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        rnd[i] = (unsigned char)x;
    }
    ssize_t r = 0;
    for (int k = 0; k < 8; k++)
        r += write(fd, all + k, 256 * 8 - k);
    r += write(fd, rnd, n);
    FILE *f = fopen("/dev/null", "w");
    fwrite(all, 1, 256 * 8, f);
    fwrite(rnd, 1, n, f);
    fclose(f);
    free(all);
    free(rnd);
    printf("%zd\n", r);
    return 0;
}
