#!/usr/bin/env python3
"""Valgrind's own memcheck regression programs, natively, under Valgrind and
under `memdx check`: which errors memcheck finds that memdx misses, and
whether memdx changes what a program does.

    bench/memcheck_suite.py VALGRIND_SOURCE_DIR [NAME...]

VALGRIND_SOURCE_DIR is a checkout of Valgrind's sources (memcheck/tests/,
memcheck/memcheck.h, tests/); it is not part of this repository: its
programs are read, built and run, never copied here. Each `*.vgtest` of
memcheck/tests/ (and its linux/ and amd64/ directories) whose program is a
single C or C++ file is built as Valgrind's makefiles build them (-g -O0)
and run three ways, each under a 60 s deadline, with the .vgtest's options
but -q (memdx gets the same ones, after $MEMDX_OPTS; when memdx refuses
one, its run is repeated without them and the table says so).

For every program the table gives the error kinds Valgrind reported and
which of them memdx reported too (by headline: "Invalid read", "Invalid
free", "definitely lost", ...). Kinds memdx does not claim to check are
counted apart: uses of uninitialised values outside system calls, and
errors that only exist through Valgrind's client requests (programs that
call VALGRIND_* / memcheck.h macros are marked "clreq": natively those
macros do nothing, so memdx cannot see what they ask for).

A behaviour difference is a different exit status, death by signal or
stdout between the native run and memdx's run.
"""
import os
import re
import shlex
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MEMDX = os.environ.get("MEMDX", os.path.join(ROOT, "target/release/memdx"))
EXTRA = shlex.split(os.environ.get("MEMDX_OPTS", ""))
DEADLINE = 60

KINDS = [
    ("invalid read", re.compile(r"^Invalid read( |$)")),
    ("invalid write", re.compile(r"^Invalid write( |$)")),
    ("invalid free", re.compile(r"^Invalid free\(\)")),
    ("mismatched free", re.compile(r"^Mismatched free\(\)")),
    ("overlap", re.compile(r"^Source and destination overlap")),
    ("fishy argument", re.compile(r"^Argument '.*' of function .* has a fishy")),
    ("syscall unaddressable", re.compile(r"^Syscall param .* points to unaddressable")),
    ("syscall uninit", re.compile(r"^Syscall param .* (points to |contains )?uninitialised")),
    ("uninit jump", re.compile(r"^Conditional jump or move depends on uninitialised")),
    ("uninit use", re.compile(r"^Use of uninitialised value")),
    ("jump to invalid", re.compile(r"^Jump to the invalid address")),
    ("invalid alignment", re.compile(r"^Invalid alignment value")),
    ("definitely lost", re.compile(r"are definitely lost in loss record")),
    ("indirectly lost", re.compile(r"are indirectly lost in loss record")),
    ("possibly lost", re.compile(r"are possibly lost in loss record")),
    ("client check", re.compile(r"found during client check request")),
    ("mempool", re.compile(r"^Illegal memory pool address|^Memory pool")),
    ("realloc size 0", re.compile(r"^realloc\(\) with size 0")),
]
NOT_CLAIMED = {"uninit jump", "uninit use", "client check", "mempool"}


def parse_vgtest(path):
    fields = {}
    for line in open(path, errors="replace"):
        if ":" in line and not line.startswith("#"):
            key, _, value = line.partition(":")
            fields[key.strip()] = value.strip()
    return fields


def kinds_of(stderr):
    found = set()
    summary = None
    for line in stderr.splitlines():
        m = re.match(r"^==\d+== (.*)$", line)
        if not m:
            continue
        text = m.group(1)
        for name, pattern in KINDS:
            if pattern.search(text):
                found.add(name)
        s = re.match(r"ERROR SUMMARY: (\d+) errors", text)
        if s:
            summary = int(s.group(1))
    return found, summary


def run(argv, cwd, env=None):
    try:
        p = subprocess.run(argv, cwd=cwd, capture_output=True, timeout=DEADLINE,
                           env=env, stdin=subprocess.DEVNULL)
        return p.returncode, p.stdout, p.stderr.decode(errors="replace")
    except subprocess.TimeoutExpired:
        return "timeout", b"", ""


def build(src_dir, prog, out):
    for ext, cc in ((".c", "gcc"), (".cpp", "g++")):
        src = os.path.join(src_dir, prog + ext)
        if os.path.exists(src):
            top = os.path.abspath(os.path.join(src_dir, "..", ".."))
            if os.path.basename(os.path.dirname(src_dir)) != "memcheck":
                top = os.path.abspath(os.path.join(src_dir, "..", "..", ".."))
            argv = [cc, "-g", "-O0", "-w", "-I/usr/include/valgrind",
                    "-I" + os.path.join(top, "include"), "-I" + top,
                    src, "-o", out, "-lpthread"]
            p = subprocess.run(argv, capture_output=True, timeout=120)
            text = open(src, errors="replace").read()
            clreq = bool(re.search(r"VALGRIND_|memcheck\.h|valgrind\.h", text))
            return p.returncode == 0, clreq
    return False, False


def main():
    if len(sys.argv) < 2:
        print(__doc__.strip().splitlines()[3].strip(), file=sys.stderr)
        return 2
    top = os.path.abspath(sys.argv[1])
    only = set(sys.argv[2:])
    dirs = [os.path.join(top, "memcheck/tests", d) for d in ("", "linux", "amd64")]
    work = tempfile.mkdtemp(prefix="memcheck-suite.")
    rows = []
    for d in dirs:
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            if not name.endswith(".vgtest"):
                continue
            test = name[:-len(".vgtest")]
            if only and test not in only:
                continue
            try:
                f = parse_vgtest(os.path.join(d, name))
            except OSError:
                continue
            prog = f.get("prog", "")
            if not prog or "/" in prog or f.get("prereq") or f.get("tool", "memcheck") != "memcheck":
                continue
            exe = os.path.join(work, os.path.basename(d) + "_" + prog)
            if not os.path.exists(exe):
                ok, clreq = build(d, prog, exe)
                if not ok:
                    continue
            else:
                clreq = bool(re.search(r"VALGRIND_|memcheck\.h|valgrind\.h",
                                       open(next(os.path.join(d, prog + e) for e in (".c", ".cpp") if os.path.exists(os.path.join(d, prog + e))), errors="replace").read()))
            args = shlex.split(f.get("args", ""))
            # -q would hide the ERROR SUMMARY line both tools are judged by.
            opts = [o for o in shlex.split(f.get("vgopts", ""))
                    if not o.startswith("--tool") and o not in ("-q", "--quiet")]
            nat = run([exe] + args, d)
            vg = run(["valgrind", "--tool=memcheck"] + opts + [exe] + args, d)
            md = run([MEMDX, "check"] + EXTRA + opts + [exe] + args, d)
            dropped = ""
            if md[0] not in ("timeout",) and re.search(r"^memdx( check)?: .*option", md[2], re.M) and "ERROR SUMMARY" not in md[2]:
                dropped = ",".join(re.findall(r"option:? '?(--?[A-Za-z0-9-]+)", md[2])) or "?"
                md = run([MEMDX, "check"] + EXTRA + [exe] + args, d)
            vk, vsum = kinds_of(vg[2])
            mk, msum = kinds_of(md[2])
            same = nat[0] == md[0] and nat[1] == md[1]
            rows.append(dict(test=os.path.relpath(os.path.join(d, test), os.path.join(top, "memcheck/tests")),
                             clreq=clreq, vk=vk, mk=mk, vsum=vsum, msum=msum, same=same,
                             nat=nat[0], md=md[0], vg=vg[0], dropped=dropped,
                             stdout_same=nat[1] == md[1], stdout_same_vg=vg[1] == md[1]))
            r = rows[-1]
            missed = sorted(r["vk"] - r["mk"])
            print(f"{r['test']:<32} vg={vsum!s:>4} memdx={msum!s:>4} "
                  f"{'clreq ' if clreq else ''}{'refused:' + dropped + ' ' if dropped else ''}"
                  f"{'' if same else 'BEHAVIOUR(native ' + str(nat[0]) + ' memdx ' + str(md[0]) + (' stdout differs' if nat[1] != md[1] else '') + ') '}"
                  f"missed={','.join(missed) or '-'} extra={','.join(sorted(r['mk'] - r['vk'])) or '-'}",
                  flush=True)
    # Summary.
    def found_any(r, claimed_only):
        kinds = {k for k in r["vk"] if not claimed_only or k not in NOT_CLAIMED}
        return kinds
    print()
    print(f"programs run: {len(rows)}")
    vg_err = [r for r in rows if (r["vsum"] or 0) > 0]
    md_too = [r for r in vg_err if (r["msum"] or 0) > 0]
    vg_err_nc = [r for r in vg_err if not r["clreq"]]
    print(f"Valgrind reports an error: {len(vg_err)}; memdx reports one too: {len(md_too)}")
    print(f"  of those without client requests: {len(vg_err_nc)}; memdx reports one too: "
          f"{len([r for r in vg_err_nc if (r['msum'] or 0) > 0])}")
    claimed = [r for r in rows if not r["clreq"] and (r["vk"] - NOT_CLAIMED)]
    claimed_hit = [r for r in claimed if r["mk"] & (r["vk"] - NOT_CLAIMED)]
    print(f"without client requests, with a kind memdx claims: {len(claimed)}; "
          f"memdx reports at least one of those kinds: {len(claimed_hit)}; all of them: "
          f"{len([r for r in claimed if (r['vk'] - NOT_CLAIMED) <= r['mk']])}")
    print("by kind (programs without client requests): valgrind / memdx too")
    for name, _ in KINDS:
        have = [r for r in rows if not r["clreq"] and name in r["vk"]]
        if have:
            both = [r for r in have if name in r["mk"]]
            print(f"  {name:<24} {len(have):>3} / {len(both):>3}"
                  f"{'  (not claimed)' if name in NOT_CLAIMED else ''}")
    changed = [r for r in rows if not r["same"]]
    print(f"behaviour differs from native under memdx: {len(changed)}: "
          + " ".join(f"{r['test']}({r['nat']}->{r['md']})" for r in changed))
    changed_vg = [r for r in changed
                  if r["md"] != r["vg"] or r["vg"] == "timeout" or not r["stdout_same_vg"]]
    print(f"  of which memdx's exit status or stdout also differs from Valgrind's: "
          f"{len(changed_vg)}: "
          + " ".join(f"{r['test']}(native {r['nat']}, valgrind {r['vg']}, memdx {r['md']}"
                     f"{'' if r['stdout_same_vg'] else ', stdout'})" for r in changed_vg))
    return 0


if __name__ == "__main__":
    sys.exit(main())
