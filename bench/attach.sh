#!/usr/bin/env bash
# `memdx heap --pid` on a running allocation loop (bench/attach_loop.c,
# alloc_heavy's malloc/free pattern): the loop's throughput while memdx is
# attached, sampled (the default, 512 KiB) and exact (`--sample 1`),
# against the same slices of a run nobody attaches to, and against eBPF
# uprobes on the same loop: bcc's `memleak -p` (Debian's bpfcc-tools) and
# a bpftrace script doing what memleak does (sizes by thread, live blocks
# by address, a stack per allocation). Not a test: numbers depend on the
# machine.
#
#   bench/attach.sh            (REPS rounds, default 5, from the environment;
#                               BPF=0 leaves the eBPF rows out)
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
#
# The eBPF tools compile their programs first (seconds to a minute), so
# their loop runs until they are done: its pairs per second are taken over
# the 2.5 s that start 1 s after the tool says it attaches, divided by the
# same round's alone run. bcc needs root and kernel headers: when
# /lib/modules/$(uname -r)/build is missing (a kernel built elsewhere) and
# Debian's linux-headers of another version are installed, the script
# merges them into a scratch tree for BCC_KERNEL_SOURCE (memleak's uprobes
# read only `struct pt_regs`, whose x86-64 layout does not change). When a
# tool cannot run, its row is one line saying why.
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
        echo "$(rate 2.0 4.5 "$work/$name.out") $cpu"
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
    echo "$(rate 2.0 4.5 "$work/$name.out") $cpu"
}

# rate LO HI FILE: the loop's pairs per second over its lines stamped in
# (LO, HI] (each line counts the pairs since the one before).
rate() {
    awk -v lo="$1" -v hi="$2" 'NR > 1 { if ($1 > lo && $1 <= hi) { n += $2; t += $1 - prev } prev = $1 }
        END { if (t > 0) printf "%.0f\n", n / t; else print 0 }' "$3"
}
# bpf_setup: decides which eBPF rows can run; sets bcc_why / bpftrace_why
# (empty: it can) and, when needed, BCC_KERNEL_SOURCE.
bpf_setup() {
    bcc_why= bpftrace_why=
    if [ "${BPF:-1}" = 0 ]; then
        bcc_why="BPF=0 in the environment" bpftrace_why="BPF=0 in the environment"
        return
    fi
    if [ "$(id -u)" != 0 ]; then
        bcc_why="needs root (BPF programs and uprobes)" bpftrace_why=$bcc_why
        return
    fi
    command -v bpftrace >/dev/null || bpftrace_why="bpftrace is not installed (apt-get install bpftrace)"
    if ! command -v memleak-bpfcc >/dev/null; then
        bcc_why="memleak-bpfcc is not installed (apt-get install bpfcc-tools)"
        return
    fi
    if [ -z "${BCC_KERNEL_SOURCE:-}" ] && [ ! -e "/lib/modules/$(uname -r)/build" ] \
        && [ ! -e /sys/kernel/kheaders.tar.xz ]; then
        local amd64 common
        amd64=$(ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | sort -V | tail -n1)
        common=${amd64%-amd64}-common
        if [ -z "$amd64" ] || [ ! -d "$common" ]; then
            bcc_why="no kernel headers for $(uname -r) (no /lib/modules/$(uname -r)/build, no kheaders module, no Debian linux-headers-*-amd64 to stand in)"
            return
        fi
        mkdir -p "$work/kernel"
        cp -rs "$common/." "$work/kernel" && cp -rsf "$amd64/." "$work/kernel" 2>/dev/null || true
        export BCC_KERNEL_SOURCE=$work/kernel
        bcc_note="headers of ${amd64#/usr/src/linux-headers-} for kernel $(uname -r)"
    fi
    if [ ! -e /sys/kernel/tracing/uprobe_events ] && [ ! -e /sys/kernel/debug/tracing/uprobe_events ]; then
        mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true
    fi
}

# tracer NAME: pairs/s of the loop over 1-3.5 s after NAME (bcc, bpftrace)
# says it attaches; or "failed: WHY" when it does not.
tracer() {
    local name=$1 pid tr libc
    "$work/loop" 300 >"$work/$name.out" &
    pid=$!
    while ! grep -q ready "$work/$name.out" 2>/dev/null; do sleep 0.01; done
    libc=$(awk '$6 ~ /\/libc\.so/ { print $6; exit }' "/proc/$pid/maps")
    if [ "$name" = bcc ]; then
        PYTHONUNBUFFERED=1 memleak-bpfcc -p "$pid" 60 >"$work/$name.trace" 2>"$work/$name.err" &
    else
        bpftrace -p "$pid" -e "
            uprobe:$libc:malloc { @req[tid] = arg0; }
            uretprobe:$libc:malloc { @live[retval] = @req[tid]; @sites[ustack(perf, 16)] = count(); }
            uprobe:$libc:free { delete(@live[arg0]); }
            END { clear(@req); clear(@live); clear(@sites); }" \
            >"$work/$name.trace" 2>"$work/$name.err" &
    fi
    tr=$!
    local limit=$((SECONDS + 240))
    until grep -q '^Attaching' "$work/$name.trace" 2>/dev/null; do
        if ! kill -0 "$tr" 2>/dev/null || [ $SECONDS -ge $limit ]; then
            kill "$tr" 2>/dev/null || true
            kill "$pid"; wait "$pid" || true; wait "$tr" 2>/dev/null || true
            echo "failed: $(grep -v '^\s*$' "$work/$name.err" | tail -n1)"
            return
        fi
        sleep 0.05
    done
    local at
    at=$(tail -n1 "$work/$name.out" | awk '{ print $1 + 0 }')
    sleep 3.7
    kill -INT "$tr"; wait "$tr" 2>/dev/null || true
    kill "$pid"; wait "$pid" || true
    rate "$(awk -v a="$at" 'BEGIN { print a + 1 }')" "$(awk -v a="$at" 'BEGIN { print a + 3.5 }')" \
        "$work/$name.out"
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
spread() { sort -n | awk '{ v[NR] = $1 } END { printf "%s-%s", v[1], v[NR] }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }

bcc_note=
bpf_setup
sr=() er=() pr=() br=() bt=() alone=() scpu=() ecpu=() pcpu=()
for _ in $(seq "$reps"); do
    read -r a _ < <(run alone)
    read -r s sc < <(run sampled)
    read -r e ec < <(run exact --sample 1)
    read -r p pc < <(run preloaded)
    alone+=("$a"); sr+=("$(ratio "$s" "$a")"); er+=("$(ratio "$e" "$a")"); pr+=("$(ratio "$p" "$a")")
    scpu+=("$sc"); ecpu+=("$ec"); pcpu+=("$pc")
    for t in bcc bpftrace; do
        why=bcc_why
        [ $t = bpftrace ] && why=bpftrace_why
        [ -n "${!why}" ] && continue
        r=$(tracer $t)
        case $r in
            failed:*) printf -v "$why" '%s' "${r#failed: }" ;;
            *) if [ $t = bcc ]; then br+=("$(ratio "$r" "$a")"); else bt+=("$(ratio "$r" "$a")"); fi ;;
        esac
    done
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
if [ -z "$bcc_why" ]; then
    printf '%-28s %10s %14s %14s\n' "bcc memleak -p (uprobes)" "$(lines "${br[@]}" | median)" \
        "$(lines "${br[@]}" | spread)" "-"
    [ -n "$bcc_note" ] && printf '  (bcc compiled with %s)\n' "$bcc_note"
else
    printf 'bcc memleak -p: not run: %s\n' "$bcc_why"
fi
if [ -z "$bpftrace_why" ]; then
    printf '%-28s %10s %14s %14s\n' "bpftrace malloc/free probes" "$(lines "${bt[@]}" | median)" \
        "$(lines "${bt[@]}" | spread)" "-"
else
    printf 'bpftrace: not run: %s\n' "$bpftrace_why"
fi
