#!/usr/bin/env bash
# Real-program battery for `memdx check` (issue 20): small C, C++ and Rust
# programs of bench/battery/ and programs from Debian packages, each timed
# natively, under `memdx check` and under `valgrind` (both with default
# options, as a new user would run them), in one run. Not a test: numbers
# depend on the machine.
#
#   bench/battery.sh [NAME...]        (default: every program)
#   REPS=3 VALGRIND=1 bench/battery.sh
#   MEMDX=/tmp/memdx-main bench/battery.sh NAME...   (another binary)
#
# Native and memdx runs alternate REPS times (default 3) so a slow spell
# of the shared machine hits both; the table shows the median of each and
# the spread (min-max) of the per-pair ratios. Valgrind runs VALGRIND
# times (default 1; 0 skips it). openssl speed runs for a fixed time: its
# "time" is the inverse of its 16-byte sha256 throughput. A program that
# is not installed is listed as such, not timed.
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${REPS:-3}
vg_reps=${VALGRIND:-1}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# MEMDX=PATH: time that memdx binary (e.g. a copy built from main) instead
# of building this tree's.
if [ -n "${MEMDX:-}" ]; then
    memdx=$MEMDX
else
    cargo build --release -q -p memdx
    memdx=$PWD/target/release/memdx
fi
src=$PWD/bench/battery
g++ -O2 -g -pthread "$src/churn_threads.cpp" -o "$work/churn_threads"
g++ -O2 -g "$src/new_delete.cpp" -o "$work/new_delete"
gcc -O2 -g "$src/recursive.c" -o "$work/recursive"
rustc -O -g --edition=2021 "$src/rust_churn.rs" -o "$work/rust_churn"
cp "$PWD/bench/alloc_heavy.c" "$work/compile_me.c"

have() { command -v "$1" >/dev/null 2>&1; }
# The interpreter itself, not a wrapper script (pyenv's shim would exec it
# out of sight of memdx without --trace-children).
python=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null || echo python3)

# name | needs | trace children | command (run in $work)
programs=(
    "cxx-stl-threads|g++|no|./churn_threads 40000"
    "new-delete-1M|g++|no|./new_delete 1000000"
    "c-recursive|gcc|no|./recursive 30"
    "rust-collections|rustc|no|./rust_churn 200000"
    "bash-script|bash|yes|bash $src/script.sh"
    "perl-core-modules|perl|no|perl $src/core_modules.pl"
    "gcc-compile|gcc|yes|gcc -O2 -c compile_me.c -o compile_me.o"
    "bc-pi|bc|no|sh -c 'echo \"scale=700; 4*a(1)\" | BC_LINE_LENGTH=0 exec bc -l'"
    "openssl-sha256|openssl|no|openssl speed -seconds 1 -bytes 16 sha256"
    "sqlite3-index|sqlite3|no|sh -c 'exec sqlite3 :memory: < $src/index.sql'"
    "python3-test|python3|no|$python -m test -q test_json test_bisect test_heapq"
)

if [ $# -gt 0 ]; then
    keep=()
    for p in "${programs[@]}"; do
        for want in "$@"; do [ "${p%%|*}" = "$want" ] && keep+=("$p"); done
    done
    programs=("${keep[@]}")
fi

# seconds OUT_FILE NAME CMD...: wall seconds of one run (openssl: 1e6 /
# its 16-byte throughput in kB/s, so that slower is bigger).
seconds() {
    local out=$1 name=$2; shift 2
    local t0 t1
    t0=$(date +%s%N)
    (cd "$work" && eval "$*") >"$out" 2>"$out.err" </dev/null || true
    t1=$(date +%s%N)
    if [ "$name" = openssl-sha256 ]; then
        awk '/^sha256/ { v = $2; sub(/k$/, "", v); printf "%.4f\n", 1000000 / v }' "$out"
    else
        awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f\n", (b - a) / 1e9 }'
    fi
}
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.4f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

printf '%-18s %9s %9s %9s %8s %13s %9s %s\n' program native memdx valgrind memdx/x spread valgrind/x note
ratios=()
for p in "${programs[@]}"; do
    IFS='|' read -r name needs trace cmd <<<"$p"
    if ! have "$needs"; then
        printf '%-18s not installed (%s)\n' "$name" "$needs"
        continue
    fi
    mopts="" vopts=""
    if [ "$trace" = yes ]; then mopts="--trace-children=yes"; vopts="--trace-children=yes"; fi
    nat=() mdx=() pr=()
    for _ in $(seq "$reps"); do
        a=$(seconds "$work/native.out" "$name" "$cmd")
        m=$(seconds "$work/memdx.out" "$name" "$memdx check $mopts -- $cmd")
        nat+=("$a"); mdx+=("$m")
        pr+=("$(awk -v a="$a" -v m="$m" 'BEGIN { printf "%.2f", m / a }')")
    done
    note=""
    if ! cmp -s "$work/native.out" "$work/memdx.out" && [ "$name" != openssl-sha256 ] && [ "$name" != python3-test ]; then
        note="stdout differs"
    fi
    vg="-"
    if [ "$vg_reps" -gt 0 ] && have valgrind; then
        vs=()
        for _ in $(seq "$vg_reps"); do vs+=("$(seconds "$work/vg.out" "$name" "valgrind $vopts -- $cmd")"); done
        vg=$(printf '%s\n' "${vs[@]}" | median)
    fi
    n=$(printf '%s\n' "${nat[@]}" | median)
    m=$(printf '%s\n' "${mdx[@]}" | median)
    r=$(awk -v a="$n" -v m="$m" 'BEGIN { printf "%.2f", m / a }')
    lo=$(printf '%s\n' "${pr[@]}" | sort -g | head -1)
    hi=$(printf '%s\n' "${pr[@]}" | sort -g | tail -1)
    vr="-"
    [ "$vg" != "-" ] && vr=$(awk -v a="$n" -v v="$vg" 'BEGIN { printf "%.2f", v / a }')
    if [ "$vr" != "-" ] && awk -v r="$r" -v v="$vr" 'BEGIN { exit !(r > v) }'; then
        note="${note:+$note; }slower than valgrind"
    fi
    printf '%-18s %9s %9s %9s %8s %13s %9s %s\n' "$name" "$n" "$m" "$vg" "${r}x" "$lo-$hi" "$vr" "$note"
    ratios+=("$r")
done
if [ ${#ratios[@]} -gt 0 ]; then
    printf '%s\n' "${ratios[@]}" | awk '{ s += log($1); if ($1 > mx) mx = $1 } END {
        printf "geometric-mean slowdown %.2fx over %d programs (target <= 2x), worst %.2fx (target <= 5x)\n", exp(s / NR), NR, mx }'
fi
