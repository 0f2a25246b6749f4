/* Objects with long std::string members kept in a global vector: still
   reachable (the strings' buffers are owned through start pointers). Clean
   of leaks. */
#include <string>
#include <vector>
std::vector<std::string> *keep;
int main() {
  keep = new std::vector<std::string>();
  for (int i = 0; i < 100; i++) keep->push_back(std::string(30 + i, 'a'));
  return 0;
}
