#!/usr/bin/env bash
# memdx free vs procps-ng free, same machine, same run. Ratio <= 1.0 is the target.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
memdx=${MEMDX:-target/release/memdx}
[ -x "$memdx" ] || cargo build --release -q -p memdx
N=${N:-400}
compare "free" "$N" "$memdx free" "free"
compare "free -h -w -t" "$N" "$memdx free -h -w -t" "free -h -w -t"
