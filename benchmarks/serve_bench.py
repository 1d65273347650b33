"""Benchmark ``nameort serve`` with wrk against a stdlib baseline, in the same run.

    python benchmarks/serve_bench.py                  # 3 rounds x 10 s per measurement (~6 min)
    python benchmarks/serve_bench.py --quick          # 1 round x 5 s
    python benchmarks/serve_bench.py --configs w1,w2 --json out.json

Needs wrk (``apt-get install wrk``): a load generator in Python cannot saturate
a server on the same two cores. Measured, each with wrk -t2 and keep-alive
connections:

- **GET**: one name per request (cycling through 20,000 distinct names), at
  32 connections: requests/s, p50 and p99 latency;
- **POST**: 500 names per request, at 16 connections: names/s. All names are
  distinct: 200 request bodies of 500 names, no name twice in the whole set
  (the service keeps no cache, so a body coming round again costs the same).

Servers: (a) the baseline, 20 lines of ``http.server.ThreadingHTTPServer``
around ``Classifier.predict`` (``predict_many`` for POST), HTTP/1.1 keep-alive;
(b) ``nameort serve`` in several configurations (``--configs``): ``w1``/``w2``
(1 or 2 worker processes; uvloop, httptools, orjson), ``w1-asyncio-h11``
(the pure-Python event loop and HTTP parser), ``w1-stdlib-json`` (orjson
hidden). Each round measures every server; the report gives medians over
rounds and ratios to the baseline of the same run. The load average is printed
with every round: on a shared machine, compare ratios, not absolute figures.

Reading the baseline: ``http.server`` writes the headers and the body in two
send calls, so on a keep-alive connection each response waits for the
client's delayed ACK (about 40 ms on Linux): one connection gets ~23 req/s at
p50 44 ms, and 32 connections at most ~32/0.044 = 730 req/s however idle the
CPU. Its req/s is that floor, not its CPU cost; the CPU-per-request column
compares the work each server does.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("NAMEORT_DATA") or REPO.parent / "shared" / "data" / "names")
GET_NAMES = 20_000
POST_BODIES, POST_NAMES = 200, 500
TARGET_GET_RATIO, TARGET_P99_MS, TARGET_NAMES_PER_S = 3.0, 25.0, 100_000

BASELINE = '''
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit
from nameort import Classifier

clf = Classifier.load()

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as wrk expects
    def do_GET(self):
        name = parse_qs(urlsplit(self.path).query, keep_blank_values=True).get("name", [""])[0]
        self.reply(clf.predict(name).to_dict())
    def do_POST(self):
        names = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["names"]
        self.reply({"results": [p.to_dict() for p in clf.predict_many(names)]})
    def reply(self, obj):
        body = json.dumps(obj, ensure_ascii=False).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
server.serve_forever()
'''

# wrk's done() hook prints the figures as one JSON line, so nothing is parsed from its text report.
LUA_DONE = r'''
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, '
    .. '"socket_errors": %d, "status_errors": %d}\n', summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), e.connect + e.read + e.write + e.timeout, e.status))
end
'''
LUA_GET = r'''
local names, i = {}, 0
for line in io.lines("%(path)s") do names[#names + 1] = line end
request = function()
  i = i %% #names + 1
  return wrk.format("GET", "/v1/classify?name=" .. names[i])
end
'''
LUA_POST = r'''
local bodies, i = {}, 0
for line in io.lines("%(path)s") do bodies[#bodies + 1] = line end
local headers = {["Content-Type"] = "application/json"}
request = function()
  i = i %% #bodies + 1
  return wrk.format("POST", "/v1/classify", headers, bodies[i])
end
'''


def distinct_names(count: int, seed: int = 0) -> list:
    """The dataset's distinct names, then made-up capitalised ones: ``count`` names, none twice."""
    names = set()
    for path in sorted(DATA.glob("*.txt")):
        names.update(line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    rng = random.Random(seed)
    out = sorted(names)
    rng.shuffle(out)
    out = out[:count]
    seen = set(out)
    syllables = ["ba", "ch", "di", "el", "fo", "gu", "ha", "is", "ko", "lu", "ma", "ne", "or", "pi", "ri", "st",
                 "te", "un", "ve", "wa", "zo", "sch", "mann", "ini", "ella"]
    while len(out) < count:
        name = "".join(rng.choice(syllables) for _ in range(rng.randint(2, 5))).capitalize()
        if name not in seen:
            seen.add(name)
            out.append(name)
    return out


def write_workload(folder: Path) -> tuple:
    names = distinct_names(max(GET_NAMES, POST_BODIES * POST_NAMES))
    get_names = folder / "get-names.txt"
    get_names.write_text("\n".join(urllib.parse.quote(n, safe="") for n in names[:GET_NAMES]) + "\n")
    bodies = folder / "post-bodies.txt"
    with open(bodies, "w", encoding="utf-8") as f:
        for b in range(POST_BODIES):
            f.write(json.dumps({"names": names[b * POST_NAMES:(b + 1) * POST_NAMES]}, ensure_ascii=False) + "\n")
    get_lua, post_lua = folder / "get.lua", folder / "post.lua"
    get_lua.write_text(LUA_GET % {"path": get_names} + LUA_DONE)
    post_lua.write_text(LUA_POST % {"path": bodies} + LUA_DONE)
    return get_lua, post_lua


def nameort_argv(*args, hide_orjson=False) -> list:
    if hide_orjson:  # the service's JSON falls back to the standard library
        code = "import sys; sys.modules['orjson'] = None; from nameort.cli import main; main(sys.argv[1:])"
        return [sys.executable, "-c", code, "serve", "--port", "0", *args]
    return [sys.executable, "-m", "nameort", "serve", "--port", "0", *args]


CONFIGS = {
    "w1": (nameort_argv(), 1),
    "w2": (nameort_argv("--workers", "2"), 2),
    "w1-asyncio-h11": (nameort_argv("--loop", "asyncio", "--http", "h11"), 1),
    "w1-stdlib-json": (nameort_argv(hide_orjson=True), 1),
}


class Running:
    """A server process; ``url`` once its first line says where it listens, ready when /healthz says so."""

    def __init__(self, argv, workers=1):
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        first = self.proc.stdout.readline()  # "... listening on http://HOST:PORT ..."
        self.url = "http://" + first.split("http://")[1].split()[0].rstrip(",")
        for _ in range(workers):
            self.proc.stdout.readline()  # nameort serve: one "ready" line per worker
        wait_ready(self.url)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def wait_ready(url):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/v1/classify?name=Rossi", timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"server at {url} never answered")


def wrk(url, script, connections, seconds) -> dict:
    proc = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(script), url],
        capture_output=True, text=True, check=True,
    )
    line = next(line for line in proc.stdout.splitlines() if line.startswith("JSON "))
    r = json.loads(line[5:])
    r["req_s"] = r["requests"] / (r["duration_us"] / 1e6)
    return r


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its children (the worker processes), from /proc."""
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    total = 0
    for p in [pid, *map(int, children)]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


def measure(server: Running, get_lua, post_lua, args) -> dict:
    """wrk figures, plus the server's CPU time per request: less sensitive to other load than req/s."""
    cpu0 = cpu_seconds(server.proc.pid)
    get = wrk(server.url, get_lua, 32, args.seconds)
    cpu1 = cpu_seconds(server.proc.pid)
    post = wrk(server.url, post_lua, 16, args.seconds)
    cpu2 = cpu_seconds(server.proc.pid)
    return {
        "get_req_s": get["req_s"], "get_p50_ms": get["p50_us"] / 1e3, "get_p99_ms": get["p99_us"] / 1e3,
        "get_cpu_us": (cpu1 - cpu0) / get["requests"] * 1e6,
        "post_req_s": post["req_s"], "post_names_s": post["req_s"] * POST_NAMES, "post_p99_ms": post["p99_us"] / 1e3,
        "post_cpu_us_per_name": (cpu2 - cpu1) / (post["requests"] * POST_NAMES) * 1e6,
        "errors": get["socket_errors"] + get["status_errors"] + post["socket_errors"] + post["status_errors"],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk measurement")
    parser.add_argument("--quick", action="store_true", help="1 round of 5 s measurements")
    parser.add_argument("--configs", default=",".join(CONFIGS), help=f"of {', '.join(CONFIGS)}")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.seconds = 1, 5
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install wrk")
    configs = [c for c in args.configs.split(",") if c]
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown:
        raise SystemExit(f"unknown configs {unknown}; choose from {', '.join(CONFIGS)}")

    servers = {"baseline": ([sys.executable, "-c", BASELINE], 0), **{c: CONFIGS[c] for c in configs}}
    rounds = {name: [] for name in servers}
    with tempfile.TemporaryDirectory() as tmp:
        get_lua, post_lua = write_workload(Path(tmp))
        for r in range(args.rounds):
            order = list(servers)
            order = order[r % len(order):] + order[: r % len(order)]  # no server always goes first
            load = os.getloadavg()[0]
            for name in order:
                argv, workers = servers[name]
                server = Running(argv, workers)
                try:
                    rounds[name].append(measure(server, get_lua, post_lua, args))
                finally:
                    server.stop()
                m = rounds[name][-1]
                print(f"round {r + 1} {name:16} GET {m['get_req_s']:8,.0f} req/s p50 {m['get_p50_ms']:6.1f} ms "
                      f"p99 {m['get_p99_ms']:6.1f} ms cpu {m['get_cpu_us']:5.0f} us/req | POST "
                      f"{m['post_names_s']:9,.0f} names/s p99 {m['post_p99_ms']:6.1f} ms cpu "
                      f"{m['post_cpu_us_per_name']:5.1f} us/name | errors {m['errors']}", flush=True)
            print(f"round {r + 1}: load average {load:.2f} before, {os.getloadavg()[0]:.2f} after "
                  f"({os.cpu_count()} CPUs)", flush=True)
    report(rounds, args)


def report(rounds, args):
    med = {name: {k: statistics.median(m[k] for m in ms) for k in ms[0]} for name, ms in rounds.items()}
    base = med["baseline"]
    print(f"\nmedians over {args.rounds} round(s) of {args.seconds} s; GET at 32 connections, "
          f"POST of {POST_NAMES} distinct names at 16 connections")
    print(f"{'server':18} {'GET req/s':>10} {'x base':>7} {'p50 ms':>7} {'p99 ms':>7} {'cpu us':>7} "
          f"{'POST names/s':>13} {'x base':>7} {'p99 ms':>7} {'cpu us/name':>12}")
    for name, m in med.items():
        print(f"{name:18} {m['get_req_s']:10,.0f} {m['get_req_s'] / base['get_req_s']:7.2f} {m['get_p50_ms']:7.1f} "
              f"{m['get_p99_ms']:7.1f} {m['get_cpu_us']:7.0f} {m['post_names_s']:13,.0f} "
              f"{m['post_names_s'] / base['post_names_s']:7.2f} {m['post_p99_ms']:7.1f} "
              f"{m['post_cpu_us_per_name']:12.1f}")
    print("(cpu: the server's CPU time per request / per name, all its processes; wrk's own CPU not counted)")
    best_get = max((n for n in med if n != "baseline"), key=lambda n: med[n]["get_req_s"], default=None)
    best_post = max((n for n in med if n != "baseline"), key=lambda n: med[n]["post_names_s"], default=None)
    if best_get:
        g, p = med[best_get], med[best_post]
        print(f"\ntargets: GET >= {TARGET_GET_RATIO:g}x baseline with p99 <= {TARGET_P99_MS:g} ms: "
              f"{best_get} {g['get_req_s'] / base['get_req_s']:.2f}x, p99 {g['get_p99_ms']:.1f} ms; "
              f"POST >= {TARGET_NAMES_PER_S:,} names/s: {best_post} {p['post_names_s']:,.0f}")
    if args.json:
        args.json.write_text(json.dumps({"rounds": rounds, "medians": med, "seconds": args.seconds}, indent=2))


if __name__ == "__main__":
    main()
