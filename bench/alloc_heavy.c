/* The allocation-heavy workload of issue 3's benchmark: 10 million
   malloc/free pairs of 8-264 bytes with a window of 4,096 live blocks, then
   a 1-million-node linked list built and freed at the end. With a third
   argument "keep", the list is kept (reachable from a global) at exit, so
   the leak scan has a million live blocks to classify. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WINDOW 4096

struct node { struct node *next; long payload[3]; };
struct node *kept;

int main(int argc, char **argv) {
  long pairs = argc > 1 ? atol(argv[1]) : 10000000L;
  long nodes = argc > 2 ? atol(argv[2]) : 1000000L;
  void *window[WINDOW] = {0};
  unsigned s = 12345;
  for (long i = 0; i < pairs; i++) {
    s = s * 1103515245u + 12345u;
    unsigned k = (s >> 8) % WINDOW;
    free(window[k]);
    size_t n = 8 + (s >> 16) % 257;
    window[k] = malloc(n);
    ((char *)window[k])[0] = (char)i;
  }
  for (int k = 0; k < WINDOW; k++) free(window[k]);
  struct node *head = 0;
  for (long i = 0; i < nodes; i++) {
    struct node *n = malloc(sizeof *n);
    n->next = head;
    n->payload[0] = i;
    head = n;
  }
  long sum = 0;
  if (argc > 3 && strcmp(argv[3], "keep") == 0) { kept = head; head = 0; }
  while (head) { struct node *next = head->next; sum += head->payload[0]; free(head); head = next; }
  printf("%ld\n", sum);
  return 0;
}
