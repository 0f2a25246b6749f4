/* Exceptions still work through the interposed operator new. Clean. */
#include <stdexcept>
#include <string>
#include <cstdio>
int main() {
  int caught = 0;
  for (int i = 0; i < 100; i++) {
    try { throw std::runtime_error(std::string(100, 'x')); } catch (const std::exception &e) { caught++; }
  }
  std::printf("%d\n", caught);
  return 0;
}
