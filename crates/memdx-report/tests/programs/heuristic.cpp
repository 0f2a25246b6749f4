// Blocks still reachable only through an interior pointer that a leak
// heuristic explains (newarray: new[] of a type with a destructor), and a
// std::string; LEAK SUMMARY then lists "of which reachable via heuristic".
#include <string>
#include <cstdlib>
struct S { long v; ~S() { v = 0; } };
S *arr;
std::string *str;
int main() {
    arr = new S[4];
    str = new std::string(100, 'x');
    return 0;
}
