#!/usr/bin/env bash
# memdx vmstat vs procps-ng vmstat, same machine, same run. Ratio <= 1.0 is
# the target. Single reports only: with a delay both spend their time asleep.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
memdx=${MEMDX:-target/release/memdx}
[ -x "$memdx" ] || cargo build --release -q -p memdx
N=${N:-400}
compare "vmstat" "$N" "$memdx vmstat" "vmstat"
compare "vmstat -s" "$N" "$memdx vmstat -s" "vmstat -s"
compare "vmstat -a -w -t" "$N" "$memdx vmstat -a -w -t" "vmstat -a -w -t"
compare "vmstat -d" "$N" "$memdx vmstat -d" "vmstat -d"
compare "vmstat -D" "$N" "$memdx vmstat -D" "vmstat -D"
