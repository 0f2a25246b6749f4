// std::thread, shared_ptr, std::map churn with exceptions thrown and caught
// (the C++ runtime's own unwinding runs between captures).
#include <cstdio>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>
int main() {
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; t++)
    threads.emplace_back([t] {
      std::map<int, std::shared_ptr<std::string>> m;
      for (int i = 0; i < 3000; i++) {
        m[i % 97] = std::make_shared<std::string>(std::to_string(i * t) + " and some more text");
        if (i % 250 == 0) {
          try {
            throw std::runtime_error("caught " + std::to_string(i));
          } catch (const std::exception &e) {
            if (e.what()[0] != 'c') std::abort();
          }
        }
      }
    });
  for (auto &t : threads) t.join();
  std::puts("done");
  return 0;
}
