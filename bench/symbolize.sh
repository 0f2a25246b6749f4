#!/usr/bin/env bash
# Symbolization at scale: a generated C program leaks one block from each of
# SITES distinct functions (SITES unique frames, each with its own source
# line), run end to end under `memdx check --leak-check=full` and
# `valgrind --leak-check=full`; prints both wall times, their ratio, and
# memdx's own symbolization time (`-v`). Not a test: numbers depend on the
# machine.
#
#   bench/symbolize.sh [SITES [RUNS]]     (defaults: 10000 3)
set -euo pipefail
cd "$(dirname "$0")/.."
sites=${1:-10000}
runs=${2:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
[ -n "${KEEP:-}" ] && trap - EXIT && echo "files kept in $work"

cargo build --release -q -p memdx
memdx=target/release/memdx

# The program: f0 ... f<SITES-1>, each leaking from its own call to malloc
# (no inlining, no tail call), called in turn from main through a table.
{
    echo '#include <stdlib.h>'
    echo '#define ESCAPE(p) __asm__ volatile("" : : "g"(p) : "memory")'
    for ((i = 0; i < sites; i++)); do
        echo "__attribute__((noinline)) void f$i(void) { void *p = malloc($((i % 64 + 1))); ESCAPE(p); }"
    done
    echo 'static void (*const fns[])(void) = {'
    for ((i = 0; i < sites; i++)); do echo "f$i,"; done
    echo '};'
    echo 'int main(void) { for (unsigned i = 0; i < sizeof fns / sizeof fns[0]; i++) fns[i](); return 0; }'
} >"$work/many_sites.c"
gcc -O2 -g -fomit-frame-pointer "$work/many_sites.c" -o "$work/many_sites"

# run NAME CMD...: prints the wall time in seconds
run() {
    local name=$1; shift
    /usr/bin/time -f "%e" -o "$work/time" "$@" "$work/many_sites" \
        >/dev/null 2>"$work/$name.err" || true
    cat "$work/time"
}

echo "program: $sites leaking call sites, $(wc -c <"$work/many_sites") bytes"
printf '%-5s %10s %10s %8s\n' run memdx-s valgrind-s ratio
total_m=0; total_v=0
for ((r = 1; r <= runs; r++)); do
    m=$(run memdx "$memdx" check --leak-check=full)
    v=$(run valgrind valgrind --leak-check=full)
    total_m=$(awk -v a="$total_m" -v b="$m" 'BEGIN { print a + b }')
    total_v=$(awk -v a="$total_v" -v b="$v" 'BEGIN { print a + b }')
    awk -v r="$r" -v m="$m" -v v="$v" 'BEGIN { printf "%-5s %10.2f %10.2f %8.2f\n", r, m, v, m / v }'
done
awk -v m="$total_m" -v v="$total_v" -v n="$runs" \
    'BEGIN { printf "%-5s %10.2f %10.2f %8.2f  (memdx / valgrind)\n", "mean", m / n, v / n, m / v }'
grep -c "are definitely lost in loss record" "$work/memdx.err" | sed 's/^/memdx loss records: /'
grep -c "are definitely lost in loss record" "$work/valgrind.err" | sed 's/^/valgrind loss records: /'
# memdx's symbolization on its own (-v prints it with the leak scan's time).
"$memdx" check -v --leak-check=full "$work/many_sites" >/dev/null 2>"$work/verbose.err" || true
grep -E "memdx: (symbolization|leak scan)" "$work/verbose.err"
