/* Two threads read one freed block (a guarded one: its page is closed)
   300 times each, at once: each fault opens the page for one instruction
   and closes it again after (step.rs). Used by check_guard.rs: the program
   must run as natively, with no deadlock and no crash. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
static int *freed;
__attribute__((noipa)) int get(int *a, int i) { return a[i]; }
static void *reader(void *arg) {
    long sum = 0;
    for (int i = 0; i < 300; i++) sum += (get(freed, i % 10) | 1) != 0;
    *(long *)arg = sum;
    return NULL;
}
int main(void) {
    freed = malloc(40);
    for (int i = 0; i < 10; i++) freed[i] = i;
    free(freed);
    pthread_t t[2];
    long sums[2];
    for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, reader, &sums[i]);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    printf("%ld %ld\n", sums[0], sums[1]);
    return 0;
}
