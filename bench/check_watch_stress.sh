#!/usr/bin/env bash
# Stress of watched blocks (issue 19): real programs and the corpus's
# threaded Rust program under `memdx check --watch-blocks=yes
# --trace-children=yes`, PAR at a time, each run's stdout and exit status
# compared with a native run and its stderr searched for errors and deaths
# (these programs have none natively). Prints one line per failed run and
# the counts.
#
#   bench/check_watch_stress.sh [RUNS [PAR]]     (defaults: 120 8)
#
# Cases (RUNS are spread over them in turn): rust_threads_clean.rs (three
# of twelve), gcc, make, perl, python3, bash, `sh -c`, sort, awk, and a
# `sh -c` pipeline through sed, sort, uniq, wc and git.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-120}
par=${2:-8}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cargo build --release -q -p memdx
cp target/release/memdx "$work/memdx"
rustc -O -o "$work/rtc" tests/corpus/check/rust_threads_clean.rs
mkdir "$work/base" "$work/native" "$work/fail"
printf '#include <stdio.h>\n#include <stdlib.h>\nint main(void) { char *p = malloc(10); puts("hello"); free(p); return 0; }\n' \
    >"$work/base/hello.c"
printf 'all: hello.o\n\techo made $@ > made.txt\n\tcat made.txt\nhello.o: hello.c\n\t$(CC) -O2 -c hello.c -o hello.o\n' \
    >"$work/base/Makefile"
seq 1 20000 | awk '{ x = (x * 1103515245 + 12345) % 2147483648; printf "%d %x w%d\n", x % 1000, x, NR % 13 }' \
    >"$work/base/lines.txt"
cat >"$work/case.sh" <<'CASE'
#!/usr/bin/env bash
# case.sh WORK N [memdx]: runs case N % 12 in a fresh directory, natively
# or under memdx; prints the exit status.
work=$1; k=$(( $2 % 12 )); d=$(mktemp -d -p "$work"); cp "$work"/base/* "$d"; cd "$d"
export PERL_HASH_SEED=0 PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1
case $k in
  0|1|2) cmd=("$work/rtc");;
  3) cmd=(gcc -O2 hello.c -o hello);;
  4) cmd=(make -s CC=gcc);;
  5) cmd=(perl -e 'my @f = grep { -e $_ } map { "/usr/bin/$_" } qw(perl sh sort); my $o = `echo child`; chomp $o; system("true") == 0 or die; print scalar(@f), " $o\n";');;
  6) cmd=(python3 -c 'import subprocess, json, hashlib, tempfile, os, shutil; d = tempfile.mkdtemp(); open(os.path.join(d, "f"), "w").write("x" * 1000); print(os.stat(os.path.join(d, "f")).st_size, subprocess.run(["echo", "sub"], capture_output=True, text=True).stdout.strip(), json.dumps({"a": [1, 2]}), hashlib.sha256(b"memdx").hexdigest()[:16]); shutil.rmtree(d)');;
  7) cmd=(bash -c 'for i in $(seq 1 200); do x=$((x + i)); done; echo $x; f=$(mktemp -p .); echo data > $f; cat $f; rm $f; ls /usr | head -3; read -r a b < /etc/passwd; test -n "$a" && echo read');;
  8) cmd=(sh -c 'ls / >/dev/null; echo listed; ls /nonexistent 2>&1; true');;
  9) cmd=(sort -k1,1n -k3 lines.txt);;
  10) cmd=(awk '{ s[$3] += $1 } END { for (k in s) n++; print n }' lines.txt);;
  11) cmd=(sh -c 'cat lines.txt | sed -n "s/w1$/ONE/p" | sort | uniq -c | wc -l; git --version');;
esac
if [ "${3:-}" = memdx ]; then
  timeout 300 "$work/memdx" check --watch-blocks=yes --trace-children=yes "${cmd[@]}" >out 2>err
else
  timeout 120 "${cmd[@]}" >out 2>/dev/null
fi
echo $? >rc; cat rc; echo "$d" >&2
CASE
chmod +x "$work/case.sh"
for k in $(seq 0 11); do
    d=$("$work/case.sh" "$work" "$k" 2>&1 >/dev/null)
    mv "$d/out" "$work/native/$k.out"; mv "$d/rc" "$work/native/$k.rc"; rm -rf "$d"
done
one() {
    local work=$1 i=$2 k=$(( $2 % 12 )) d bad=""
    d=$("$work/case.sh" "$work" "$i" memdx 2>&1 >/dev/null)
    cmp -s "$d/rc" "$work/native/$k.rc" || bad="$bad status $(cat "$d/rc")"
    cmp -s "$d/out" "$work/native/$k.out" || bad="$bad stdout"
    grep -q "Process terminating\|Invalid \|ERROR SUMMARY: [1-9]\|ended without\|internal compiler" "$d/err" &&
        bad="$bad stderr"
    if [ -n "$bad" ]; then
        echo "FAIL run $i case $k:$bad"; cp "$d/err" "$work/fail/$i.err"
        sed -n '/Process terminating\|Invalid /,+3p' "$d/err" | head -8
    else
        echo "ok run $i case $k"
    fi
    rm -rf "$d"
}
export -f one
seq 0 $((runs - 1)) | xargs -P "$par" -I{} bash -c 'one "$1" "$2"' _ "$work" {} >"$work/log"
grep FAIL -A8 "$work/log" || true
echo "runs: $runs, failed: $(grep -c '^FAIL' "$work/log" || true)"
