#!/usr/bin/env bash
# CPU cost of `memdx record --interval 1` with 2,000 extra sleeping processes
# (issue 22's target: under 1% of one core, i.e. under 10 ms of CPU per
# sample). Runs the recorder for SECONDS (default 30), reads its utime+stime
# from /proc/PID/stat after the first samples (warm-up: opening every
# process's statm once) and at the end, counts the samples the database got
# in between, and prints CPU per sample and % of one core.
set -euo pipefail
cd "$(dirname "$0")/.."
memdx=${MEMDX:-target/release/memdx}
[ -x "$memdx" ] || cargo build --release -q -p memdx
EXTRA=${EXTRA:-2000}
SECONDS_TO_RUN=${SECONDS_TO_RUN:-30}
TOP=${TOP:-20}

work=$(mktemp -d)
pids=()
cleanup() {
    [ -n "${rec:-}" ] && kill "$rec" 2>/dev/null
    kill "${pids[@]}" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
for ((i = 0; i < EXTRA; i++)); do sleep 100000 & pids+=($!); done
sleep 1
echo "processes now: $(ls -d /proc/[0-9]* 2>/dev/null | wc -l)"

db=$work/record.db
"$memdx" record --interval 1 --top "$TOP" --db "$db" &
rec=$!
hz=$(getconf CLK_TCK)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$rec/stat"; }
samples() { python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from sample").fetchone()[0])' "$db"; }

sleep 3.5
t0=$(cpu_ticks); s0=$(samples); w0=$(date +%s.%N)
sleep "$SECONDS_TO_RUN"
t1=$(cpu_ticks); s1=$(samples); w1=$(date +%s.%N)
kill "$rec"; wait "$rec" 2>/dev/null || true; rec=

n=$((s1 - s0))
awk -v t="$((t1 - t0))" -v hz="$hz" -v n="$n" -v w0="$w0" -v w1="$w1" -v extra="$EXTRA" 'BEGIN {
    cpu = t / hz
    printf "samples: %d in %.1f s, recorder CPU %.2f s (utime+stime, %d ticks at %d Hz)\n", n, w1 - w0, cpu, t, hz
    printf "CPU per sample: %.1f ms; at a 1 s interval: %.2f%% of one core (with %d extra processes)\n", 1000 * cpu / n, 100 * cpu / (w1 - w0), extra
}'
python3 -c 'import sqlite3,sys; sqlite3.connect(sys.argv[1]).execute("PRAGMA wal_checkpoint(TRUNCATE)")' "$db"
echo "database after a checkpoint: $(du -k "$db" | cut -f1) KiB for $s1 samples (top $TOP processes and every cgroup in each)"
