/* One error context that occurs 1500 times: the counts in <errorcounts>
 * and ERROR SUMMARY (which Valgrind prints without thousands separators). */
#include <stdlib.h>
int main(void) {
    char *p = malloc(4);
    int s = 0;
    for (volatile int i = 0; i < 1500; i++) s += ((volatile char *)p)[4];
    free(p);
    return s == 7;
}
