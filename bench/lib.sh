# Shared helpers for bench/*.sh. Source it; do not run it.
# time_cmd N CMD... : prints the mean wall time per run in microseconds,
# measured over N back-to-back runs (output discarded).
time_cmd() {
    local n=$1; shift
    local start end
    start=$(date +%s%N)
    for ((i = 0; i < n; i++)); do "$@" >/dev/null 2>&1 </dev/null; done
    end=$(date +%s%N)
    echo $(( (end - start) / n / 1000 ))
}

# compare LABEL N "MEMDX CMD" "BASELINE CMD": alternates the two in rounds so
# machine noise hits both alike; prints means and memdx/baseline ratio.
compare() {
    local label=$1 n=$2 ours=$3 theirs=$4 a=0 b=0 rounds=5
    for ((r = 0; r < rounds; r++)); do
        a=$((a + $(time_cmd "$n" $ours)))
        b=$((b + $(time_cmd "$n" $theirs)))
    done
    a=$((a / rounds)); b=$((b / rounds))
    printf '%-28s memdx %6d us   baseline %6d us   ratio %s\n' "$label" "$a" "$b" \
        "$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", a / b }')"
}
