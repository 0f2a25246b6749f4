/* vector, map, string, unordered_map, shared_ptr: all released. Clean. */
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>
#include <cstdio>
int main() {
  std::vector<std::string> v;
  for (int i = 0; i < 1000; i++) v.push_back(std::string(40, 'a' + i % 26));
  std::map<int, std::string> m;
  for (int i = 0; i < 500; i++) m[i] = v[i];
  std::unordered_map<std::string, int> u;
  for (auto &s : v) u[s]++;
  auto sp = std::make_shared<std::vector<int>>(1000, 7);
  std::printf("%zu %zu %zu %d\n", v.size(), m.size(), u.size(), (*sp)[3]);
  return 0;
}
