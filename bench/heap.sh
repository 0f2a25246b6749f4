#!/usr/bin/env bash
# `memdx heap` against native and heaptrack on the allocation benchmark
# (bench/alloc_heavy.c), in one run: wall and CPU seconds (the program and
# the recorder together), ratio to native, peak RSS and recording size;
# then the analysers: `memdx heap report` versus `heaptrack_print` (time and
# peak memory). Not a test: numbers depend on the machine.
#
#   bench/heap.sh [PAIRS [NODES]]     (defaults: 10000000 1000000)
#
# Native, exact and sampled runs alternate REPS times (default 5, from the
# environment); the ratios printed are the medians of the alternated
# rounds' ratios (a shared VM's slow spells hit all three). heaptrack runs
# once. CPU time is the steadier figure when the machine is loaded: wall
# time then includes waiting for a core.
set -euo pipefail
cd "$(dirname "$0")/.."
pairs=${1:-10000000}
nodes=${2:-1000000}
reps=${REPS:-5}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo build --release -q -p memdx
memdx=$PWD/target/release/memdx
gcc -O2 -g -fomit-frame-pointer bench/alloc_heavy.c -o "$work/alloc_heavy"

# run NAME CMD...: prints "wall cpu rss_kib" of CMD on the workload
run() {
    local name=$1; shift
    /usr/bin/time -f "%e %U %S %M" -o "$work/time" "$@" "$work/alloc_heavy" "$pairs" "$nodes" \
        >"$work/$name.out" 2>"$work/$name.err" || true
    awk '{ printf "%s %.2f %s\n", $1, $2 + $3, $4 }' "$work/time"
}
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

declare -A wall cpu rss
for name in native exact sampled; do wall[$name]=""; cpu[$name]=""; rss[$name]=""; done
ew=() ec=() sw=() sc=()
for _ in $(seq "$reps"); do
    read -r nw nc nr < <(run native)
    read -r xw xc xr < <(run exact "$memdx" heap -o "$work/exact.mdxh")
    read -r pw pc pr < <(run sampled "$memdx" heap --sample 512KiB -o "$work/sampled.mdxh")
    ew+=("$(ratio "$xw" "$nw")"); ec+=("$(ratio "$xc" "$nc")")
    sw+=("$(ratio "$pw" "$nw")"); sc+=("$(ratio "$pc" "$nc")")
    wall[native]+="$nw "; cpu[native]+="$nc "; rss[native]=$nr
    wall[exact]+="$xw "; cpu[exact]+="$xc "; rss[exact]=$xr
    wall[sampled]+="$pw "; cpu[sampled]+="$pc "; rss[sampled]=$pr
done
med() { tr ' ' '\n' <<<"$1" | grep -v '^$' | median; }

ht_line=""
if command -v heaptrack >/dev/null; then
    read -r hw hc hr < <(run ht heaptrack -o "$work/heaptrack.rec")
    ht_line="$hw $hc $hr"
fi

size() { stat -c %s "$1" 2>/dev/null || echo 0; }
printf '%-22s %8s %8s %10s %10s %12s %14s\n' run wall-s cpu-s x-wall x-cpu peak-RSS-MiB recording-B
printf '%-22s %8s %8s %10s %10s %12.1f %14s\n' native "$(med "${wall[native]}")" "$(med "${cpu[native]}")" 1 1 \
    "$(awk -v k="${rss[native]}" 'BEGIN { print k / 1024 }')" -
printf '%-22s %8s %8s %10s %10s %12.1f %14s\n' "memdx heap" "$(med "${wall[exact]}")" "$(med "${cpu[exact]}")" \
    "$(printf '%s\n' "${ew[@]}" | median)" "$(printf '%s\n' "${ec[@]}" | median)" \
    "$(awk -v k="${rss[exact]}" 'BEGIN { print k / 1024 }')" "$(size "$work/exact.mdxh")"
printf '%-22s %8s %8s %10s %10s %12.1f %14s\n' "memdx heap --sample" "$(med "${wall[sampled]}")" "$(med "${cpu[sampled]}")" \
    "$(printf '%s\n' "${sw[@]}" | median)" "$(printf '%s\n' "${sc[@]}" | median)" \
    "$(awk -v k="${rss[sampled]}" 'BEGIN { print k / 1024 }')" "$(size "$work/sampled.mdxh")"
if [ -n "$ht_line" ]; then
    set -- $ht_line
    htfile=$(ls "$work"/heaptrack.rec* 2>/dev/null | head -1)
    printf '%-22s %8s %8s %10s %10s %12.1f %14s\n' heaptrack "$1" "$2" \
        "$(ratio "$1" "$(med "${wall[native]}")")" "$(ratio "$2" "$(med "${cpu[native]}")")" \
        "$(awk -v k="$3" 'BEGIN { print k / 1024 }')" "$(size "$htfile")"
fi
echo "(x-wall, x-cpu: medians of the $reps alternated rounds' ratios to native; heaptrack: one run against the native median)"

echo "analysers (wall s, cpu s, peak RSS MiB):"
/usr/bin/time -f "%e %U %S %M" -o "$work/time" "$memdx" heap report "$work/exact.mdxh" >/dev/null
awk '{ printf "  memdx heap report      %6.2f %6.2f %8.1f\n", $1, $2 + $3, $4 / 1024 }' "$work/time"
if [ -n "$ht_line" ] && command -v heaptrack_print >/dev/null; then
    /usr/bin/time -f "%e %U %S %M" -o "$work/time" heaptrack_print "$htfile" >/dev/null
    awk '{ printf "  heaptrack_print        %6.2f %6.2f %8.1f\n", $1, $2 + $3, $4 / 1024 }' "$work/time"
fi
