/* Reads of a deleted object, three from one call (a loop) and one from
   another call of the same function: the freed block is held behind a guard page, and the page is
   closed again after each faulting read, so every read is reported
   (Valgrind: 2 contexts, 4 errors). What they read is not printed (it
   is garbage natively: glibc reuses the freed bytes).
   expect-error: Invalid read of size 4
   expect-error: Invalid read of size 4 */
#include <cstdio>
struct Node {
    int v[6];
};
__attribute__((noipa)) int get(Node *n, int i) { return n->v[i]; }
int main() {
    Node *n = new Node();
    for (int i = 0; i < 6; i++)
        n->v[i] = i;
    delete n;
    int s = 0;
    for (int i = 0; i < 3; i++)
        s += get(n, i);
    s += get(n, 5);
    __asm__ volatile("" : : "r"(s));
    std::printf("done\n");
    return 0;
}
