// A C++ program for `memdx heap --pid` (crates/memdx/tests/heap_attach.rs).
//
//   heap_attach_cpp SECONDS
//
// Before printing "ready PID" it makes 5000 strings with operator new; then,
// every millisecond for SECONDS, it leaks one Node from leak_node(), deletes
// one of the strings from before "ready" (sized delete), and builds and
// drops a temporary std::string. Prints the total length of what it read
// back, which does not depend on timing; exit status 0.
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <sys/prctl.h>
#include <unistd.h>
#include <vector>

struct Node {
    Node *next;
    long payload[7];
};

static Node *volatile sink;

__attribute__((noinline)) static Node *leak_node(long i) {
    Node *n = new Node{sink, {i, i, i, i, i, i, i}};
    sink = n;
    return n;
}

int main(int argc, char **argv) {
    int seconds = argc > 1 ? std::atoi(argv[1]) : 3;
    // Let memdx attach under kernel.yama.ptrace_scope 1.
    prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);
    std::vector<std::string *> before;
    for (int i = 0; i < 5000; i++)
        before.push_back(new std::string(40 + i % 50, 'a' + i % 26));
    std::printf("ready %d\n", (int)getpid());
    std::fflush(stdout);
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    size_t next = 0;
    long i = 0;
    while (std::chrono::steady_clock::now() < end) {
        leak_node(i++);
        if (next < before.size()) {
            delete before[next];
            before[next++] = nullptr;
        }
        std::string tmp(100, 'x');
        tmp += std::to_string(i);
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    size_t total = 0;
    for (size_t k = 0; k < before.size(); k++) {
        total += 40 + k % 50;
        delete before[k];
    }
    std::printf("done %zu\n", total);
    return 0;
}
