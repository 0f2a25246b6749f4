/* unique_ptr, make_unique, polymorphic delete: clean. */
#include <memory>
#include <vector>
#include <cstdio>
struct Base { virtual ~Base() = default; virtual int f() const { return 1; } };
struct Derived : Base { std::vector<int> v = std::vector<int>(50, 2); int f() const override { return v[3]; } };
int main() {
  std::vector<std::unique_ptr<Base>> xs;
  for (int i = 0; i < 100; i++) {
    if (i % 2) xs.push_back(std::make_unique<Derived>()); else xs.push_back(std::make_unique<Base>());
  }
  int s = 0; for (auto &x : xs) s += x->f();
  std::printf("%d\n", s);
  return 0;
}
