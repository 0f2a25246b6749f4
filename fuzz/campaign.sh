#!/usr/bin/env bash
# Runs libFuzzer on targets one after another: campaign.sh SECONDS TARGET...
# (after `cargo +nightly fuzz build -s none -O parsers` and the seeds step of
# fuzz/README.md). Prints one line per target: runs, seconds, exec/s, outcome.
# TIMEOUT=N (seconds, default 1: the issue's definition of a hang) for a
# loaded machine, where a stall of the whole machine makes every running
# campaign report a 1 s "timeout" at the same moment; slow units above 1 s
# are still logged (-report_slow_units=1) to be replayed alone.
set -u
timeout=${TIMEOUT:-1}
cd "$(dirname "$0")"
secs=$1
shift
bin=target/x86_64-unknown-linux-gnu/release/parsers
mkdir -p logs artifacts/parsers
for t in "$@"; do
    log=logs/$t.log
    MEMDX_FUZZ_TARGET=$t nice -n 19 "$bin" corpus/"$t" \
        -artifact_prefix=artifacts/parsers/"$t"- \
        -timeout="$timeout" -report_slow_units=1 -rss_limit_mb=256 -malloc_limit_mb=256 \
        -max_total_time="$secs" -runs=10000000 -print_final_stats=1 >"$log" 2>&1
    rc=$?
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    took=$(grep -o 'Done [0-9]* runs in [0-9]* second' "$log" | grep -o 'in [0-9]*' | grep -o '[0-9]*')
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    outcome=ok
    [ "$rc" = 0 ] || outcome="FOUND rc=$rc $(grep -m1 -o 'ERROR: libFuzzer: [a-z-]*\|deadly signal\|panicked at [^ ]*' "$log")"
    echo "$t runs=${runs:-?} secs=${took:-$secs} exec/s=${rate:-?} $outcome"
done
