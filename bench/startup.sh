#!/usr/bin/env bash
# Per-process and per-run cost of `memdx check` (issue 20: "at most 5 ms
# per process"), each case natively and under `memdx check -q`:
#   true      /bin/true (memdx's own start and end plus one checked process);
#   date      /bin/date, which leaves blocks whose stacks the default
#             suppressions need symbolized: glibc's debug file is loaded
#             (when libc6-dbg is installed) unless the frames are kept from
#             an earlier run; "cold" runs with MEMDX_SYMBOL_CACHE=off,
#             "warm" with a frame cache filled by the previous run;
#   leak1     a C program (-g) with one definite leak, cold and warm;
#   loop      a bash script running /bin/true N times, under
#             `--trace-children=yes` (what each traced process costs: the
#             runtime's start, its connections, its exit report), cold and warm.
# With VALGRIND=1, `valgrind -q /bin/true` for scale. With BEFORE=PATH (an
# earlier memdx binary, e.g. one built from main), the same cases under it
# in the same rounds ("before").
# Figures are milliseconds of CPU (perf's task-clock: the run and its
# children; wall time on a shared machine is mostly waiting for a CPU).
# Runs alternate (ROUNDS rounds, default 7) so a noisy spell of the shared
# machine hits every case; prints the median and the min-max of each.
# Not a test: figures depend on the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-7}
n=${N:-100}
cargo build --release -q -p memdx
memdx=$PWD/target/release/memdx
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf '#!/bin/bash\nfor i in $(seq 1 %d); do /bin/true; done\n' "$n" >"$work/loop.sh"
printf '#include <stdlib.h>\nvoid *volatile keep;\n__attribute__((noinline)) static void leak(void) { keep = malloc(100); keep = 0; }\nint main(void) { leak(); return 0; }\n' >"$work/leak1.c"
gcc -O1 -g -o "$work/leak1" "$work/leak1.c"
export XDG_CACHE_HOME=$work/cache

# cpu NAME CMD...: appends the CPU milliseconds of one run to $work/NAME.
cpu() {
    local name=$1
    shift
    perf stat -x, -e task-clock -o "$work/perf.out" "$@" >/dev/null 2>&1 </dev/null || true
    awk -F, '/task-clock/ { printf "%.3f\n", $1 }' "$work/perf.out" >>"$work/$name"
}
# stats FILE: median and range of the numbers in FILE.
stats() {
    sort -g "$1" | awk '{ v[NR] = $1 } END {
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%.2f %.2f %.2f\n", m, v[1], v[NR] }'
}
for ((r = 0; r < rounds; r++)); do
    cpu true.native /bin/true
    cpu true.memdx "$memdx" check -q -- /bin/true
    cpu date.native /bin/date
    cpu date.cold env MEMDX_SYMBOL_CACHE=off "$memdx" check -q -- /bin/date
    cpu date.warm "$memdx" check -q -- /bin/date
    cpu leak1.native "$work/leak1"
    cpu leak1.cold env MEMDX_SYMBOL_CACHE=off "$memdx" check -q -- "$work/leak1"
    cpu leak1.warm "$memdx" check -q -- "$work/leak1"
    cpu loop.native bash "$work/loop.sh"
    cpu loop.cold env MEMDX_SYMBOL_CACHE=off "$memdx" check -q --trace-children=yes bash "$work/loop.sh"
    cpu loop.warm "$memdx" check -q --trace-children=yes bash "$work/loop.sh"
    if [[ -n ${BEFORE:-} ]]; then
        cpu true.before "$BEFORE" check -q -- /bin/true
        cpu date.before "$BEFORE" check -q -- /bin/date
        cpu leak1.before "$BEFORE" check -q -- "$work/leak1"
        cpu loop.before "$BEFORE" check -q --trace-children=yes bash "$work/loop.sh"
    fi
    if [[ ${VALGRIND:-0} == 1 ]]; then
        cpu true.valgrind valgrind -q /bin/true
    fi
done
row() {
    local label=$1 name=$2 m lo hi
    read -r m lo hi < <(stats "$work/$name")
    printf '%-34s %8.2f ms  (%.2f-%.2f)\n' "$label" "$m" "$lo" "$hi"
}
echo "CPU ms, median (min-max) of $rounds alternated rounds"
row '/bin/true native' true.native
row 'memdx check -q /bin/true' true.memdx
row '/bin/date native' date.native
row 'memdx check -q /bin/date, cold' date.cold
row 'memdx check -q /bin/date, warm' date.warm
row 'leak1 native' leak1.native
row 'memdx check -q leak1, cold' leak1.cold
row 'memdx check -q leak1, warm' leak1.warm
row "bash loop of $n /bin/true native" loop.native
row "  --trace-children=yes, cold" loop.cold
row "  --trace-children=yes, warm" loop.warm
read -r ln _ _ < <(stats "$work/loop.native")
read -r lw _ _ < <(stats "$work/loop.warm")
printf 'extra per traced process (warm)    %8.2f ms\n' \
    "$(awk -v a="$lw" -v b="$ln" -v n="$n" 'BEGIN { print (a - b) / (n + 2) }')"
if [[ -n ${BEFORE:-} ]]; then
    row 'before: memdx check -q /bin/true' true.before
    row 'before: memdx check -q /bin/date' date.before
    row 'before: memdx check -q leak1' leak1.before
    row 'before: --trace-children=yes loop' loop.before
fi
if [[ ${VALGRIND:-0} == 1 ]]; then
    row 'valgrind -q /bin/true' true.valgrind
fi
