/* A write of one byte through a NULL pointer.
   expect-error: Invalid write of size 1
   expect-signal: 11 */
#include "common.h"
int main(void) {
    volatile char *volatile none = 0;
    CLOBBER();
    *none = 'x';
    return 0;
}
