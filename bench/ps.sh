#!/usr/bin/env bash
# memdx ps vs ps aux, smem and top with 2,000 extra idle processes, one run.
# Targets (issue 6): memdx ps >= 5x faster than smem and <= 1.5x ps aux;
# memdx ps --fast <= 0.5x ps aux; memdx top -b -n1 <= top -b -n1.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
memdx=${MEMDX:-target/release/memdx}
[ -x "$memdx" ] || cargo build --release -q -p memdx
EXTRA=${EXTRA:-2000}
N=${N:-5}

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; }
trap cleanup EXIT
for ((i = 0; i < EXTRA; i++)); do sleep 100000 & pids+=($!); done
sleep 1
echo "processes now: $(ls -d /proc/[0-9]* | wc -l)"

compare "memdx ps vs ps aux" "$N" "$memdx ps" "ps aux --sort=-%mem"
compare "memdx ps --fast vs ps aux" "$N" "$memdx ps --fast" "ps aux --sort=-%mem"
if command -v smem >/dev/null; then
    compare "memdx ps vs smem -s pss" "$N" "$memdx ps" "smem -s pss"
else
    echo "smem not installed: apt install smem"
fi
compare "memdx top -b -n1 vs top -b -n1" "$N" "$memdx top -b -n1" "top -b -n1"
