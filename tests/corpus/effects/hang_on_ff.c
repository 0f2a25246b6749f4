/* Waits for a flag in a block it never wrote: with the block's bytes 0x00
   it goes on and prints "done"; with 0xff it loops forever. The check
   must kill such a run at its deadline, count it as a behaviour ("no end
   within N s (killed)") and still name the site (wait_flag).
   uninit-effects: wait_flag, exit status 0 vs no end within N s (killed) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((noinline)) unsigned char *wait_flag(void) {
    unsigned char *p = malloc(32);
    __asm__ volatile("" : : "r"(p) : "memory");
    return p;
}

__attribute__((noinline)) char *other(size_t n) {
    char *p = malloc(n);
    memset(p, 'o', n);
    return p;
}

int main(void) {
    char *a = other(24);
    unsigned char *flag = wait_flag();
    char *b = other(40);
    flag[0] = 1;
    while (*(volatile unsigned char *)&flag[5] == 0xff)
        ;
    printf("done %c%c\n", a[3], b[7]);
    free(a);
    free(b);
    free(flag);
    return 0;
}
