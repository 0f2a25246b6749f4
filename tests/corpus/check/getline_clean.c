/* getline's buffer and stdio's own buffers are released: clean. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
int main(void) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return 1;
  char *line = 0; size_t cap = 0; long n = 0;
  while (getline(&line, &cap, f) > 0) n++;
  free(line); fclose(f);
  printf("%s\n", n > 3 ? "lines" : "few");
  return 0;
}
