#!/usr/bin/env bash
# Scrape latency and CPU per scrape of `memdx serve` against
# prometheus-node-exporter (Debian's package; installed here when missing and
# apt-get can), in one invocation: the servers run side by side and are
# scraped in alternated rounds (ROUNDS rounds of SCRAPES scrapes each, one
# scraper, keep-alive off as Prometheus' first scrape), so machine noise hits
# both alike. Prints, per server, the median and spread (min-max over rounds
# of the round medians) of the latency, the CPU per scrape (utime+stime of
# the server over a round / scrapes), the body size, and memdx/baseline
# ratios.
#
# Baselines: node_exporter with its default collectors (what a fleet runs)
# and node_exporter limited to the memory collectors memdx's node_* part
# covers (meminfo, vmstat, pressure). memdx additionally reads every
# process's smaps_rollup and cgroup (the namedprocess_* and memdx_cgroup_*
# series), so the process count matters: it is printed, with the time of
# one plain pass over every smaps_rollup (the floor of that part).
set -euo pipefail
cd "$(dirname "$0")/.."
memdx=${MEMDX:-target/release/memdx}
[ -x "$memdx" ] || cargo build --release -q -p memdx
ROUNDS=${ROUNDS:-7}
SCRAPES=${SCRAPES:-40}

exporter=$(command -v prometheus-node-exporter || true)
if [ -z "$exporter" ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get install -y -q prometheus-node-exporter >/dev/null
    exporter=$(command -v prometheus-node-exporter || true)
fi
[ -n "$exporter" ] || { echo "bench/serve.sh: needs prometheus-node-exporter (apt-get install prometheus-node-exporter)" >&2; exit 1; }

exec python3 - "$memdx" "$exporter" "$ROUNDS" "$SCRAPES" <<'PY'
import os, socket, statistics, subprocess, sys, time, http.client

memdx, exporter, rounds, scrapes = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
hz = os.sysconf("SC_CLK_TCK")

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def start(name, argv_for_port):
    port = free_port()
    p = subprocess.Popen(argv_for_port(port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close(); break
        except OSError:
            if time.time() > deadline or p.poll() is not None:
                sys.exit(f"bench/serve.sh: {name} did not start")
            time.sleep(0.05)
    return {"name": name, "proc": p, "port": port, "lat": [], "cpu": [], "size": 0}

def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / hz  # utime, stime

def scrape(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    t0 = time.perf_counter()
    c.request("GET", "/metrics", headers={"Accept": "text/plain;version=0.0.4"})
    r = c.getresponse(); body = r.read()
    dt = time.perf_counter() - t0
    c.close()
    assert r.status == 200, r.status
    return dt, len(body)

rollup = []
servers = [
    start("memdx serve", lambda p: [memdx, "serve", "--listen", f"127.0.0.1:{p}"]),
    start("node_exporter (defaults)", lambda p: [exporter, f"--web.listen-address=127.0.0.1:{p}"]),
    start("node_exporter (memory)", lambda p: [exporter, f"--web.listen-address=127.0.0.1:{p}",
          "--collector.disable-defaults", "--collector.meminfo", "--collector.vmstat", "--collector.pressure"]),
]
try:
    for s in servers:  # warm-up: first scrapes open files, fault in code
        for _ in range(3):
            scrape(s["port"])
    for r in range(rounds):
        order = servers if r % 2 == 0 else list(reversed(servers))
        for s in order:
            c0 = cpu_s(s["proc"].pid)
            lats = []
            for _ in range(scrapes):
                dt, size = scrape(s["port"])
                lats.append(dt)
            s["cpu"].append((cpu_s(s["proc"].pid) - c0) / scrapes)
            s["lat"].append(statistics.median(lats))
            s["size"] = size
        # The floor under memdx's per-process part: one pass reading every
        # smaps_rollup (the kernel walks each process's page tables).
        t0 = time.perf_counter()
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    with open(f"/proc/{d}/smaps_rollup", "rb") as f:
                        f.read()
                except OSError:
                    pass
        rollup.append(time.perf_counter() - t0)
finally:
    for s in servers:
        s["proc"].kill(); s["proc"].wait()

nproc = sum(1 for d in os.listdir("/proc") if d.isdigit())
print(f"{rounds} alternated rounds x {scrapes} scrapes per server; {nproc} processes; "
      f"{os.cpu_count()} CPUs; clock ticks {hz} Hz")
def ms(x): return f"{1000 * x:7.2f}"
print(f"{'server':26} {'latency ms: median (min-max of rounds)':40} {'CPU ms/scrape: median (min-max)':34} body")
for s in servers:
    l, c = s["lat"], s["cpu"]
    print(f"{s['name']:26} {ms(statistics.median(l))} ({ms(min(l)).strip()}-{ms(max(l)).strip()}){'':17}"
          f" {ms(statistics.median(c))} ({ms(min(c)).strip()}-{ms(max(c)).strip()}){'':11} {s['size'] // 1024} KiB")
print(f"reading every /proc/PID/smaps_rollup once (python, no parsing): median {ms(statistics.median(rollup)).strip()} ms "
      f"({ms(min(rollup)).strip()}-{ms(max(rollup)).strip()})")
m = servers[0]
for b in servers[1:]:
    print(f"memdx / {b['name']:26} latency {statistics.median(m['lat']) / statistics.median(b['lat']):.2f}x"
          f"   CPU {statistics.median(m['cpu']) / max(statistics.median(b['cpu']), 1e-9):.2f}x")
PY
