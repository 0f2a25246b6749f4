/* Prints an uninitialised heap int through stdio (printf) and writes a
   partly uninitialised record to the file its first argument names; the
   int comes from the site in make_counter, the record from make_record.
   uninit-effects: make_counter, make_record */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct record {
    char name[8];
    int value;
};

__attribute__((noinline)) int *make_counter(void) {
    int *c = malloc(2 * sizeof(int));
    __asm__ volatile("" : : "r"(c) : "memory");
    return c;
}

__attribute__((noinline)) struct record *make_record(void) {
    struct record *r = malloc(sizeof *r);
    __asm__ volatile("" : : "r"(r) : "memory");
    return r;
}

__attribute__((noinline)) char *make_label(void) {
    char *l = malloc(32);
    strcpy(l, "counter");
    return l;
}

int main(int argc, char **argv) {
    char *label = make_label();
    int *c = make_counter();
    c[1] = 5;
    printf("%s: %d %d\n", label, c[1], c[0]);
    if (argc > 1) {
        struct record *r = make_record();
        strcpy(r->name, "abc"); /* bytes 4..7 of name and value: unset */
        FILE *f = fopen(argv[1], "w");
        if (!f)
            return 2;
        fwrite(r, sizeof *r, 1, f);
        fclose(f);
        free(r);
    }
    free(c);
    free(label);
    return 0;
}
