#!/usr/bin/env bash
# Per-process cost of `memdx check` (issue 20: "at most 5 ms per process"):
#   1. `memdx check -q -- /bin/true` against `/bin/true` (memdx's own
#      start and end plus one checked process);
#   2. a bash script running /bin/true N times, natively and under
#      `memdx check -q --trace-children=yes` (what each traced process
#      costs: the runtime's start, its connections, its exit report);
#   3. with VALGRIND=1, `valgrind -q /bin/true` for scale.
# Runs alternate (ROUNDS rounds, default 7) so a noisy spell of the shared
# machine hits both; prints the median and the min-max of each, and the
# extra milliseconds per process. Not a test: figures depend on the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-7}
n=${N:-100}
cargo build --release -q -p memdx
memdx=$PWD/target/release/memdx
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf '#!/bin/bash\nfor i in $(seq 1 %d); do /bin/true; done\n' "$n" >"$work/loop.sh"

# ms CMD...: wall milliseconds of one run (output discarded).
ms() {
    local start end
    start=$(date +%s%N)
    "$@" >/dev/null 2>&1 </dev/null || true
    end=$(date +%s%N)
    awk -v d=$((end - start)) 'BEGIN { printf "%.3f\n", d / 1e6 }'
}
# stats FILE: median and range of the numbers in FILE.
stats() {
    sort -g "$1" | awk '{ v[NR] = $1 } END {
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%.2f %.2f %.2f\n", m, v[1], v[NR] }'
}
for ((r = 0; r < rounds; r++)); do
    ms /bin/true >>"$work/true.native"
    ms "$memdx" check -q -- /bin/true >>"$work/true.memdx"
    ms bash "$work/loop.sh" >>"$work/loop.native"
    ms "$memdx" check -q --trace-children=yes bash "$work/loop.sh" >>"$work/loop.memdx"
    if [[ ${VALGRIND:-0} == 1 ]]; then
        ms valgrind -q /bin/true >>"$work/true.valgrind"
    fi
done
read -r tn tn_lo tn_hi < <(stats "$work/true.native")
read -r tm tm_lo tm_hi < <(stats "$work/true.memdx")
read -r ln ln_lo ln_hi < <(stats "$work/loop.native")
read -r lm lm_lo lm_hi < <(stats "$work/loop.memdx")
printf 'memdx check -q /bin/true     %7.2f ms (%.2f-%.2f)   native %6.2f ms (%.2f-%.2f)   ratio %.1f\n' \
    "$tm" "$tm_lo" "$tm_hi" "$tn" "$tn_lo" "$tn_hi" "$(awk -v a="$tm" -v b="$tn" 'BEGIN { print a / b }')"
printf 'bash loop of %d /bin/true    %7.2f ms (%.2f-%.2f)   native %6.2f ms (%.2f-%.2f)   ratio %.1f\n' \
    "$n" "$lm" "$lm_lo" "$lm_hi" "$ln" "$ln_lo" "$ln_hi" "$(awk -v a="$lm" -v b="$ln" 'BEGIN { print a / b }')"
printf 'extra per traced process     %7.2f ms (median difference / %d)\n' \
    "$(awk -v a="$lm" -v b="$ln" -v n="$n" 'BEGIN { print (a - b) / n }')" "$n"
if [[ ${VALGRIND:-0} == 1 ]]; then
    read -r tv tv_lo tv_hi < <(stats "$work/true.valgrind")
    printf 'valgrind -q /bin/true        %7.2f ms (%.2f-%.2f)\n' "$tv" "$tv_lo" "$tv_hi"
fi
