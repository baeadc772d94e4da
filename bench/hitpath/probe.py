#!/usr/bin/env python3
"""The gateway alone, per request: CPU microseconds, syscalls (strace -c)
and heap allocations (LD_PRELOAD counter, malloc_count.c) on one path.

  python3 bench/hitpath/probe.py --scenario hit1k [--strace] [--malloc] [--seconds 3]

Starts 3 sample-service instances and one gateway (1 worker, the configs of
bench/compare.py's scenarios: proxy, hit1k, hit100k, page), primes the
cache, runs `wrk -t2 -c64 -dN` and divides the gateway's CPU time (and the
syscall / allocation counts taken over the same run) by wrk's request
count. Every process it starts is stopped at the end. Numbers are for
comparing builds on the same machine, not absolute."""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = ("caches:\n  main: {path: \"@TMP@/cache\", max_size: 1GiB, memory: 64MiB,\n"
         "         memory_entry_max: 64KiB, policy: s3fifo}\n")
ROUTE = "  - prefix: /\n    upstream: fleet\n"
PAGE_ROUTES = "  - path: /channels/{id}\n    page: {template: \"@TMP@/composed-page.html\"}\n" + "".join(
    f"  - prefix: /fragments/{k}/\n    upstream: fleet\n    cache: {{zone: main, ttl: 60s, use_stale: [updating]}}\n"
    for k in ("channel", "chat", "recommended"))
SCENARIOS = {
    "proxy": ("", ROUTE, "/api/channels/1"),
    "hit1k": (CACHE, ROUTE + "    cache: {zone: main, ttl: 60s}\n",
              "/api/channels/1?size=1024&cache_control=max-age=60"),
    "hit100k": (CACHE, ROUTE + "    cache: {zone: main, ttl: 60s}\n",
                "/api/channels/1?size=102400&cache_control=max-age=60"),
    "page": (CACHE, PAGE_ROUTES, "/channels/42"),
}


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, what, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


def get(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), b""
    except Exception:
        return 0, {}, b""


def cpu_seconds(pid):
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", choices=SCENARIOS, default="hit1k")
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--build-dir", type=Path, default=ROOT / "build")
    ap.add_argument("--strace", action="store_true", help="count syscalls with strace -c -f (slows the gateway)")
    ap.add_argument("--malloc", action="store_true", help="count allocations (builds malloc_count.so)")
    ap.add_argument("--perf", help="perf record -g the gateway into this file")
    ap.add_argument("--perf-event", help="with --perf: record this event (e.g. probe_libc:malloc after "
                    "`perf probe -x /lib/x86_64-linux-gnu/libc.so.6 malloc`) with DWARF call graphs")
    ap.add_argument("--keep", action="store_true", help="print the temp dir and leave it")
    args = ap.parse_args()
    top, routes, path = SCENARIOS[args.scenario]
    tmp = Path(tempfile.mkdtemp(prefix="hitpath-"))
    procs = []

    def start(argv, name, env=None):
        log = open(tmp / f"{name}.log", "w")
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        procs.append(p)
        return p

    try:
        ports = []
        for i in range(3):
            pf = tmp / f"fleet-{i}.port"
            start([str(args.build_dir / "sample-service"), "--port", "0", "--port-file", str(pf), "--name",
                   f"fleet-{i}", "--threads", "1"] + (["--default-cache-control", "max-age=60"] if args.scenario == "page" else []),
                  f"fleet-{i}")
            wait_for(lambda: pf.exists() and pf.read_text().strip(), "sample-service")
            ports.append(int(pf.read_text().strip()))
        if args.scenario == "page":
            shutil.copy(ROOT / "bench/conf/composed-page.html", tmp / "composed-page.html")
        port = free_port()
        conf = (f"listen: [\"127.0.0.1:{port}\"]\nworkers: 1\naccess_log: off\n"
                "timeouts: {keepalive: 75s, shutdown: 2s}\n" + top +
                "upstreams:\n  fleet:\n    balance: round_robin\n    instances: [" +
                ", ".join(f"\"127.0.0.1:{p}\"" for p in ports) + "]\n    keepalive: 64\nroutes:\n" + routes)
        (tmp / "gateway.yaml").write_text(conf.replace("@TMP@", str(tmp)))
        env = dict(os.environ)
        count_file = tmp / "mallocs"
        if args.malloc:
            lib = tmp / "malloc_count.so"
            subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", str(lib), str(Path(__file__).parent / "malloc_count.c"),
                            "-ldl", "-lpthread"], check=True)
            env["LD_PRELOAD"] = str(lib)
            env["MALLOC_COUNT_FILE"] = str(count_file)
        gw = start([str(args.build_dir / "gateway"), "--config", str(tmp / "gateway.yaml")], "gateway", env)
        wait_for(lambda: get(port, "/__nothing__")[0] != 0 or gw.poll() is not None, "gateway")
        # Settle: the store makes its bucket directories in the background
        # at start (mkdir, seconds of kernel CPU): not a hit's cost.
        for _ in range(60):
            c0 = cpu_seconds(gw.pid)
            time.sleep(0.5)
            if cpu_seconds(gw.pid) - c0 < 0.02:
                break
        for _ in range(50):  # prime: a hit (or for the page: its fragments)
            st, h, _ = get(port, path)
            if args.scenario in ("proxy", "page") or h.get("X-Cache", "").upper().startswith("HIT"):
                break
            time.sleep(0.05)
        for _ in range(5):
            get(port, path)
        wrk = ["wrk", "--latency", "-t2", f"-c{args.connections}", f"-d{args.seconds:g}s", f"http://127.0.0.1:{port}{path}"]
        subprocess.run(wrk[:4] + ["-d1s"] + wrk[5:], capture_output=True)  # warm-up
        tracer = None
        if args.strace:
            tracer = subprocess.Popen(["strace", "-c", "-f", "-p", str(gw.pid), "-o", str(tmp / "strace.txt")],
                                      stderr=subprocess.DEVNULL)
            time.sleep(0.5)
        if args.perf:
            extra = ["-e", args.perf_event, "--call-graph", "dwarf"] if args.perf_event else ["-g"]
            tracer = subprocess.Popen(["perf", "record", *extra, "-p", str(gw.pid), "-o", args.perf],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)
        mallocs0 = int(count_file.read_text() or 0) if args.malloc else 0
        cpu0 = cpu_seconds(gw.pid)
        out = subprocess.run(wrk, capture_output=True, text=True).stdout
        cpu1 = cpu_seconds(gw.pid)
        time.sleep(0.12)
        mallocs1 = int(count_file.read_text() or 0) if args.malloc else 0
        if tracer:
            tracer.send_signal(signal.SIGINT)
            tracer.wait(timeout=30)
        n = int(re.search(r"(\d+) requests in", out).group(1))
        bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        p99 = re.search(r"99%\s+(\S+)", out)
        rps = float(re.search(r"Requests/sec:\s+(\S+)", out).group(1))
        line = (f"{args.scenario}: {n} requests, {rps:,.0f} req/s, p99 {p99.group(1) if p99 else '?'}, "
                f"CPU {(cpu1 - cpu0) * 1e6 / n:.2f} us/req")
        if bad:
            line += f", NON-2XX {bad.group(1)}"
        if args.malloc:
            line += f", {(mallocs1 - mallocs0) / n:.2f} allocs/req"
        print(line)
        if args.strace:
            text = (tmp / "strace.txt").read_text()
            total = re.search(r"^100\.00\s+\S+\s+\S+\s+(\d+)", text, re.M)
            print(f"  syscalls: {int(total.group(1)) / n:.2f}/req (strace -c over the run; the gateway runs slower traced)")
            for m in re.finditer(r"^\s*[\d.]+\s+\S+\s+\S+\s+(\d+)\s+(\d*)\s*(\w+)$", text, re.M):
                if int(m.group(1)) / n >= 0.01:
                    print(f"    {m.group(3):16} {int(m.group(1)) / n:6.2f}/req" +
                          (f"  errors {int(m.group(2)) / n:.2f}/req" if m.group(2) else ""))
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
        if args.keep:
            print("kept", tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
