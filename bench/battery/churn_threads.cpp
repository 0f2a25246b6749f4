// C++ STL churn: std::thread workers filling std::map<int, shared_ptr<...>>
// with strings and vectors, replacing entries (so blocks are freed from
// other stacks than they were allocated from).
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>
struct Item {
  std::string name;
  std::vector<int> values;
};
static void worker(int t, int n, long *out) {
  std::map<int, std::shared_ptr<Item>> m;
  long sum = 0;
  for (int i = 0; i < n; i++) {
    auto it = std::make_shared<Item>();
    it->name = "item-" + std::to_string(i * 31 + t) + "-with-a-longer-name";
    it->values.assign(i % 13 + 1, i);
    m[i % 1024] = std::move(it);
    if (i % 7 == 0) m.erase((i * 17) % 1024);
    sum += (long)m.size();
  }
  *out = sum;
}
int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 40000;
  long sums[4] = {0, 0, 0, 0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; t++) ts.emplace_back(worker, t, n, &sums[t]);
  for (auto &t : ts) t.join();
  std::printf("%ld\n", sums[0] + sums[1] + sums[2] + sums[3]);
  return 0;
}
