#!/usr/bin/env bash
# Times an allocation-heavy workload natively, under `memdx check
# --leak-check=full`, under `valgrind --leak-check=full` and under heaptrack
# (when installed), in one run, and prints wall time, ratio to native and
# peak RSS for each. Not a test: numbers depend on the machine.
#
#   bench/check.sh [PAIRS [NODES]]     (defaults: 10000000 1000000)
#
# The machine is a shared VM whose wall times vary by a third from run to
# run: native and memdx runs alternate REPS times (default 5, from the
# environment) and the fastest of each is kept; valgrind and heaptrack run
# once.
set -euo pipefail
cd "$(dirname "$0")/.."
pairs=${1:-10000000}
nodes=${2:-1000000}
reps=${REPS:-5}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo build --release -q -p memdx
memdx=target/release/memdx
gcc -O2 -g -fomit-frame-pointer bench/alloc_heavy.c -o "$work/alloc_heavy"

# run NAME CMD...: prints "NAME seconds peak_rss_kib"
run() {
    local name=$1; shift
    /usr/bin/time -f "%e %M" -o "$work/time" "$@" "$work/alloc_heavy" "$pairs" "$nodes" \
        >"$work/$name.out" 2>"$work/$name.err" || true
    read -r secs rss <"$work/time"
    echo "$name $secs $rss"
}

# secs RESULT: the seconds of a `run` line
secs() { echo "$1" | cut -d' ' -f2; }
# faster A B: whether seconds A beat B (B empty: no run yet)
faster() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(b == "" || a < b) }'; }

# Native and memdx alternate, so a slow spell of the machine hits both;
# the fastest of each is kept, and the ratio of each alternated pair is
# printed too (their median is the steadier figure on a busy machine).
nat="" mdx="" pair_ratios=()
for _ in $(seq "$reps"); do
    a=$(run native)
    m=$(run memdx "$memdx" check --leak-check=full)
    pair_ratios+=("$(awk -v a="$(secs "$a")" -v m="$(secs "$m")" 'BEGIN { printf "%.2f", m / a }')")
    if faster "$(secs "$a")" "$(secs "$nat")"; then nat=$a; fi
    if faster "$(secs "$m")" "$(secs "$mdx")"; then mdx=$m; fi
done
results=("$nat" "$mdx")
if command -v valgrind >/dev/null; then
    results+=("$(run valgrind valgrind --leak-check=full)")
fi
if command -v heaptrack >/dev/null; then
    results+=("$(run heaptrack heaptrack -o "$work/heaptrack.out")")
fi

native_s=$(echo "${results[0]}" | awk '{print $2}')
native_rss=$(echo "${results[0]}" | awk '{print $3}')
memdx_s=$(echo "${results[1]}" | awk '{print $2}')
printf '%-10s %10s %10s %12s %10s\n' tool seconds x-native peak-RSS-MiB x-native
for r in "${results[@]}"; do
    set -- $r
    awk -v n="$1" -v s="$2" -v m="$3" -v ns="$native_s" -v nm="$native_rss" \
        'BEGIN { printf "%-10s %10.2f %10.1f %12.1f %10.2f\n", n, s, s/ns, m/1024, m/nm }'
done
printf 'memdx/native of each alternated pair: %s (median %s)\n' "${pair_ratios[*]}" \
    "$(printf '%s\n' "${pair_ratios[@]}" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')"
for r in "${results[@]:2}"; do
    set -- $r
    awk -v n="$1" -v s="$2" -v ms="$memdx_s" \
        'BEGIN { printf "memdx is %.1fx faster than %s\n", s/ms, n }'
done
# What each mechanism adds (issue 4): memdx with everything off but the
# headers, bitmap and stacks, then each mechanism turned on alone.
echo "cost of each mechanism (memdx check --leak-check=full, best of $reps, seconds; ratio to native):"
mech() {
    local label=$1 b="" t
    shift
    for _ in $(seq "$reps"); do
        /usr/bin/time -f "%e" -o "$work/time" "$memdx" check --leak-check=full "$@" \
            "$work/alloc_heavy" "$pairs" "$nodes" >/dev/null 2>&1 || true
        t=$(cat "$work/time")
        if faster "$t" "$b"; then b=$t; fi
    done
    awk -v l="$label" -v s="$b" -v ns="$native_s" \
        'BEGIN { printf "  %-44s %6.2f %6.1fx\n", l, s, s/ns }'
}
bare=(--redzone-size=0 --poison-size=0 --freelist-vol=0 --guard-pages=0)
mech "base (no redzone, poison, quarantine, guards)" "${bare[@]}"
mech "+ redzones (16 bytes)" --redzone-size=16 --poison-size=0 --freelist-vol=0 --guard-pages=0
mech "+ quarantine (2,000,000 bytes), no poison" --redzone-size=0 --poison-size=0 --guard-pages=0
mech "+ quarantine and poison (32 bytes)" --redzone-size=0 --guard-pages=0
mech "+ quarantine and poison (4096 bytes)" --redzone-size=0 --poison-size=4096 --guard-pages=0
mech "+ guard pages (4096 slots)" --redzone-size=0 --poison-size=0 --freelist-vol=0 --guard-pages=4096
mech "defaults without guard pages" --guard-pages=0
mech "defaults without watched blocks" --watch-blocks=no
mech "defaults (redzones, quarantine, poison, guards, watched blocks)"
# The leak scan on its own: a run that keeps the million-node list alive
# (reachable from a global) at exit; -v makes memdx print the scan's duration.
"$memdx" check -v --leak-check=full "$work/alloc_heavy" "$pairs" "$nodes" keep \
    >/dev/null 2>"$work/keep.err"
grep -E "leak scan:|still reachable:" "$work/keep.err"
echo "memdx's report:"
sed -n '/HEAP SUMMARY/,$p' "$work/memdx.err"
