#!/usr/bin/env bash
# `memdx heap --pid` on a running allocation loop (bench/attach_loop.c,
# alloc_heavy's malloc/free pattern): the loop's throughput while memdx is
# attached, sampled (the default, 512 KiB) and exact (`--sample 1`),
# against the same slices of a run nobody attaches to. Not a test: numbers
# depend on the machine.
#
#   bench/attach.sh            (REPS rounds, default 5, from the environment)
#
# Each round runs the loop four times for 6 s: alone, with a sampled
# attach from 1 s to 5 s, with an exact attach over the same time, and
# started under `memdx heap --` (exact, preloaded: the same hooks with the
# runtime's static-TLS fast path) for comparison. Pairs
# per second are taken over the slices from 2 s to 4.5 s (the attach and
# detach themselves left out) and divided by the alone run's of the same
# round; printed are the medians and the spread (min-max) of those ratios.
# The recorder (memdx) runs on the other core: CPU time of memdx itself is
# printed too.
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${REPS:-5}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo build --release -q -p memdx
memdx=$PWD/target/release/memdx
gcc -O2 -g -fomit-frame-pointer bench/attach_loop.c -o "$work/loop"

# run NAME [MEMDX-OPTS...]: pairs/s of the loop over 2-4.5 s; memdx's CPU s
run() {
    local name=$1; shift
    local pid=
    if [ "$name" != preloaded ]; then
        "$work/loop" 6 >"$work/$name.out" &
        pid=$!
    fi
    local cpu=0
    if [ "$name" = preloaded ]; then
        /usr/bin/time -f "%U %S" -o "$work/$name.time" \
            "$memdx" heap -o "$work/$name.mdxh" -- "$work/loop" 6 >"$work/$name.out" 2>"$work/$name.err"
        cpu=$(awk '{ printf "%.2f", $1 + $2 }' "$work/$name.time")
        awk -v cpu="$cpu" 'NR > 1 && $1 > 2.0 && $1 <= 4.5 { n += $2; t += 0.25 }
            END { printf "%.0f %s\n", n / t, cpu }' "$work/$name.out"
        return
    fi
    while ! grep -q ready "$work/$name.out" 2>/dev/null; do sleep 0.01; done
    if [ $# -gt 0 ]; then
        sleep 1
        /usr/bin/time -f "%U %S" -o "$work/$name.time" \
            "$memdx" heap --pid "$pid" --duration 4 -o "$work/$name.mdxh" "$@" 2>"$work/$name.err"
        cpu=$(awk '{ printf "%.2f", $1 + $2 }' "$work/$name.time")
    fi
    wait "$pid"
    awk -v cpu="$cpu" 'NR > 1 && $1 > 2.0 && $1 <= 4.5 { n += $2; t += 0.25 }
        END { printf "%.0f %s\n", n / t, cpu }' "$work/$name.out"
}
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
spread() { sort -n | awk '{ v[NR] = $1 } END { printf "%s-%s", v[1], v[NR] }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }

sr=() er=() pr=() alone=() scpu=() ecpu=() pcpu=()
for _ in $(seq "$reps"); do
    read -r a _ < <(run alone)
    read -r s sc < <(run sampled)
    read -r e ec < <(run exact --sample 1)
    read -r p pc < <(run preloaded)
    alone+=("$a"); sr+=("$(ratio "$s" "$a")"); er+=("$(ratio "$e" "$a")"); pr+=("$(ratio "$p" "$a")")
    scpu+=("$sc"); ecpu+=("$ec"); pcpu+=("$pc")
done
lines() { printf '%s\n' "$@"; }
printf 'alone: %s pairs/s (median of %s runs)\n' "$(lines "${alone[@]}" | median)" "$reps"
printf '%-28s %10s %14s %14s\n' run throughput spread memdx-cpu-s
printf '%-28s %10s %14s %14s\n' "attached, --sample 512KiB" "$(lines "${sr[@]}" | median)" \
    "$(lines "${sr[@]}" | spread)" "$(lines "${scpu[@]}" | median)"
printf '%-28s %10s %14s %14s\n' "attached, --sample 1" "$(lines "${er[@]}" | median)" \
    "$(lines "${er[@]}" | spread)" "$(lines "${ecpu[@]}" | median)"
printf '%-28s %10s %14s %14s\n' "memdx heap -- (exact)" "$(lines "${pr[@]}" | median)" \
    "$(lines "${pr[@]}" | spread)" "$(lines "${pcpu[@]}" | median)"
