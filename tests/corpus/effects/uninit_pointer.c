/* Follows a list link it never set: with the block's bytes 0x00 the link
   is NULL and the program prints "ok"; with 0xff it dies by SIGSEGV.
   uninit-effects: main, exit status 0 vs death by signal 11 */
#include <stdio.h>
#include <stdlib.h>

struct node {
    int val;
    struct node *next;
};

int main(void) {
    struct node *n = malloc(sizeof *n);
    n->val = 1;
    if (n->next)
        printf("%d\n", n->next->val);
    printf("ok\n");
    free(n);
    return 0;
}
