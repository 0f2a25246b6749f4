#!/usr/bin/env bash
# Instructions of `memdx heap` on the allocation benchmark (bench/alloc_heavy.c),
# counted by valgrind's callgrind (the same count on every run, whatever else
# the shared machine does; timing is bench/heap.sh's job):
#   - the program's side: instructions per malloc/free pair natively, under
#     `memdx heap` (exact) and `memdx heap --sample 512KiB` (the runtime's
#     hooks, its bursts, start-up and exit);
#   - memdx's side: the recorder's instructions per recorded event (receive,
#     decode, order, encode, compress, the summary's analysis), with the
#     program itself running natively (callgrind does not follow it).
#
#   bench/heap_instr.sh [PAIRS [NODES]]     (defaults: 200000 20000)
#
# The recorder runs on ten times as many pairs and nodes (its fixed costs,
# symbolizing the stacks at the end, would otherwise weigh too much).
set -euo pipefail
cd "$(dirname "$0")/.."
pairs=${1:-200000}
nodes=${2:-20000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

command -v valgrind >/dev/null || { echo "valgrind not installed: nothing to count"; exit 0; }
cargo build --release -q -p memdx
memdx=$PWD/target/release/memdx
gcc -O2 -g -fomit-frame-pointer bench/alloc_heavy.c -o "$work/alloc_heavy"
cat >"$work/wrap.sh" <<EOS
#!/bin/sh
exec valgrind --tool=callgrind --callgrind-out-file=$work/cg.%p.out "\$@"
EOS
chmod +x "$work/wrap.sh"

total() { grep -E '^(summary|totals):' "$1" | head -1 | awk '{print $2}'; }
n=$((pairs + nodes))
events=$((2 * 10 * n))

valgrind --tool=callgrind --callgrind-out-file="$work/native.out" \
    "$work/alloc_heavy" "$pairs" "$nodes" >/dev/null 2>&1
native=$(total "$work/native.out")
printf '%-40s %14s %10s %8s\n' "program side" instructions per-pair x-native
printf '%-40s %14d %10d %8.2f\n' native "$native" $((native / n)) 1

# The program under memdx heap: memdx runs the wrapper with
# --trace-children=yes, so the runtime stays preloaded when it execs callgrind.
program() {
    local label=$1; shift
    rm -f "$work"/cg.*.out
    "$memdx" heap --trace-children=yes -o "$work/p.%p.mdxh" "$@" "$work/wrap.sh" \
        "$work/alloc_heavy" "$pairs" "$nodes" >/dev/null 2>&1 || true
    local f t
    f=$(ls "$work"/cg.*.out | head -1)
    t=$(total "$f")
    awk -v l="$label" -v t="$t" -v n="$n" -v nat="$native" \
        'BEGIN { printf "%-40s %14d %10d %8.2f\n", l, t, t/n, t/nat }'
    cp "$f" "$work/$label.prog.out"
}
program "memdx heap (exact)"
program "memdx heap --sample 512KiB" --sample 512KiB

# memdx itself under callgrind (the program runs natively).
valgrind --tool=callgrind --callgrind-out-file="$work/rec.out" \
    "$memdx" heap -o "$work/r.mdxh" "$work/alloc_heavy" $((10 * pairs)) $((10 * nodes)) >/dev/null 2>&1 || true
rec=$(total "$work/rec.out")
printf '%-40s %14s %10s\n' "memdx side (exact recording)" instructions per-event
printf '%-40s %14d %10d\n' "recorder (all threads)" "$rec" $((rec / events))
echo "recorder's top functions (own instructions per event):"
callgrind_annotate --auto=no "$work/rec.out" 2>/dev/null |
    awk -v n="$events" '/%\)/ {
        c = $1; gsub(",", "", c)
        f = $0; sub(/^[^)]*\) +/, "", f); sub(/ \[.*$/, "", f); sub(/^[^:]*:/, "", f)
        sum[f] += c }
      END { for (f in sum) if (sum[f] / n >= 2) printf "  %8.1f  %s\n", sum[f] / n, substr(f, 1, 90) }' |
    sort -rn | head -14
