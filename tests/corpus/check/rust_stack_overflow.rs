/* Rust's own stack-overflow handler must still be installed under memdx
   (the runtime's fatal-signal handlers are invisible to sigaction queries):
   it prints its message and aborts, so the program dies by SIGABRT exactly
   as it does natively. Rust's handler runs on the runtime's alternate
   signal stack (Rust keeps one it finds), so the report still runs; the
   fault is not reported as an invalid write (it is a stack overflow).
   expect-signal: 6
   valgrind: skip Valgrind emulates the stack and reports the overflow itself */
fn recurse(n: u64) -> u64 {
    let a = [n; 1000];
    if n == 0 {
        0
    } else {
        std::hint::black_box(a)[3] + recurse(n - 1)
    }
}
fn main() {
    println!("{}", recurse(std::hint::black_box(u64::MAX)));
}
