#!/usr/bin/env bash
# Instructions per malloc/free pair of bench/alloc_heavy.c, natively and
# under `memdx check`, counted by valgrind's callgrind (not timed: the count
# is the same on every run, whatever else the machine does, so it shows the
# effect of a change to the runtime's fast path that wall time on a shared
# 2-core VM hides in its noise). Prints the runtime's own share by function.
#
#   bench/check_instr.sh [PAIRS [NODES]]     (defaults: 200000 20000)
#
# How: memdx runs a wrapper script with --trace-children=yes, so the
# runtime stays preloaded and connected when the wrapper execs callgrind on
# the workload. Cache misses are not counted: compare wall time with
# bench/check.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
pairs=${1:-200000}
nodes=${2:-20000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

command -v valgrind >/dev/null || { echo "valgrind not installed: nothing to count"; exit 0; }
cargo build --release -q -p memdx
memdx=target/release/memdx
gcc -O2 -g -fomit-frame-pointer bench/alloc_heavy.c -o "$work/alloc_heavy"
cat >"$work/wrap.sh" <<EOF
#!/bin/sh
exec valgrind --tool=callgrind --callgrind-out-file=$work/cg.%p.out "\$@"
EOF
chmod +x "$work/wrap.sh"

# total INSTRUCTIONS in the callgrind file of the workload
total() { grep -E '^(summary|totals):' "$1" | head -1 | awk '{print $2}'; }

valgrind --tool=callgrind --callgrind-out-file="$work/native.out" \
    "$work/alloc_heavy" "$pairs" "$nodes" >/dev/null 2>&1
native=$(total "$work/native.out")
n=$((pairs + nodes))
printf '%-44s %14s %10s %8s\n' configuration instructions per-pair x-native
printf '%-44s %14d %10d %8.2f\n' native "$native" $((native / n)) 1

run() {
    local label=$1; shift
    rm -f "$work"/cg.*.out
    "$memdx" check --trace-children=yes --leak-check=full "$@" "$work/wrap.sh" \
        "$work/alloc_heavy" "$pairs" "$nodes" >/dev/null 2>&1 || true
    local f
    f=$(ls "$work"/cg.*.out | head -1)
    local t
    t=$(total "$f")
    awk -v l="$label" -v t="$t" -v n="$n" -v nat="$native" \
        'BEGIN { printf "%-44s %14d %10d %8.2f\n", l, t, t/n, t/nat }'
    cp "$f" "$work/last.out"
}
run "base (no redzone, poison, quarantine, guards)" \
    --redzone-size=0 --poison-size=0 --freelist-vol=0 --guard-pages=0
run "defaults without quarantine" --freelist-vol=0
run "defaults without watched blocks" --watch-blocks=no
run "defaults"
echo "the runtime's functions under the defaults (own instructions per pair, inlined code included):"
callgrind_annotate --auto=no "$work/last.out" 2>/dev/null |
    awk -v n="$n" '/%\)/ && /memdx_runtime|libmemdx_runtime/ {
        c = $1; gsub(",", "", c)
        f = $0; sub(/^[^)]*\) +/, "", f); sub(/ \[.*$/, "", f); sub(/^[^:]*:/, "", f)
        sum[f] += c }
      END { for (f in sum) if (sum[f] / n >= 1) printf "  %8.1f  %s\n", sum[f] / n, f }' |
    sort -rn | head -12
