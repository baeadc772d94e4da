#!/usr/bin/env python3
"""The miss path under churn: a short-TTL cache over millions of records.

The gateway (a disk zone of --max-size, default 32MiB) and nginx
(proxy_cache_path max_size=32m, levels=1:2, use_temp_path=off), each with
--workers (default 1), in front of the same fresh fleet of sample-service
instances. wrk asks for a random id of --keys (default 2,000,000) per request,
/api/channels/<id>?size=<1..15 KiB, fixed per id>&cache_control=max-age=60:
nearly every request is a miss that stores a new entry and evicts an old one.

Every second it samples each target's own request counter (the gateway's
gateway_requests_total on /metrics, nginx's stub_status), so wrk runs once for
the whole --duration without a slow per-response hook; every --disk-every
seconds (default 2) it walks the target's cache directory: files and bytes on
disk (st_blocks, what the disk really holds, tmp/ included).

Targets run one after the other (--duration each, default 600 s; --quick
60 s), gateway first, on the same fleet. Output: a table of req/s per minute
(per 10 s in runs under two minutes) with the files and bytes at the end and
the peak bytes against max_size, and bench/results/churn-<date>.json and .png
(req/s and files on disk over time, both targets).

    python3 bench/churn.py [--quick] [--duration 600] [--workers 1] [--keys 2000000]
                           [--max-size 32MiB] [--connections 64] [--targets gateway,nginx]

Bounded in time, stops everything it started, also on failure.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare as C  # noqa: E402  (process handling, the fleet, the targets)
import disk_bound  # noqa: E402  (parse_size, the gateway's /metrics gauges)

HOST = C.HOST
RESULTS = C.BENCH / "results"

WRK_SCRIPT = r"""
-- A random id of `keys` per request; its body size (1..15 KiB) is fixed per id,
-- so one key is always the same response.
local keys, maxage = 2000000, "60"
function setup(thread)
  thread:set("seed", math.random(1, 2000000000))
end
function init(args)
  keys = tonumber(args[1]) or keys
  maxage = args[2] or maxage
  math.randomseed(seed)
end
function request()
  local id = math.random(1, keys)
  local size = 1024 + (id * 7919) % 14337
  return wrk.format(nil, "/api/channels/" .. id .. "?size=" .. size .. "&cache_control=max-age=" .. maxage)
end
"""

READY_PATH = "/api/channels/0?size=1024&cache_control=max-age=60"


def scenario(max_size: int) -> C.Scenario:
    mib = max(1, max_size >> 20)
    return C.Scenario(
        name="churn",
        description=f"misses under churn: random ids, 1-15 KiB, a {mib} MiB zone",
        path=READY_PATH,
        gateway_top=(
            'admin: {listen: "127.0.0.1:@ADMIN_PORT@"}\n'
            "caches:\n"
            f'  main: {{path: "@TMP@/gateway-cache", max_size: {max_size}}}\n'),
        gateway_routes=(
            "  - prefix: /\n"
            "    upstream: @UPSTREAM@\n"
            "    cache: {zone: main, ttl: 60s}\n"),
        nginx_http=(
            f"    proxy_cache_path @TMP@/nginx-cache levels=1:2 keys_zone=main:64m max_size={mib}m\n"
            "                     inactive=10m use_temp_path=off;\n"),
        nginx_locations=(
            "        location = /nginx_status {\n"
            "            stub_status;\n"
            "        }\n" + C.NGINX_CACHE_LOCATION),
    )


def gateway_requests(admin_port: int) -> int:
    with urllib.request.urlopen(f"http://{HOST}:{admin_port}/metrics", timeout=5) as r:
        text = r.read().decode()
    return sum(int(float(m.group(1))) for m in re.finditer(r"^gateway_requests_total\{[^}]*\} (\S+)", text, re.M))


def nginx_requests(port: int) -> int:
    status, body = C.http_get(port, "/nginx_status", 5.0)
    if status != 200:
        raise OSError(f"stub_status: {status}")
    return int(body.decode().splitlines()[2].split()[2])  # " accepts handled requests"


def disk_usage(root: str) -> tuple[int, int]:
    """(files, bytes on disk: st_blocks) under root."""
    files = used = 0
    for dirpath, _dirs, names in os.walk(root):
        for n in names:
            try:
                st = os.lstat(os.path.join(dirpath, n))
            except FileNotFoundError:
                continue
            files += 1
            used += st.st_blocks * 512
    return files, used


class Sampler:
    """Requests per second (every second) and the cache dir (every `disk_every` s)."""

    def __init__(self, counter, cache_dir: str, disk_every: float):
        self.counter, self.cache_dir, self.disk_every = counter, cache_dir, disk_every
        self.stop_flag = threading.Event()
        self.rps: list[tuple[float, float]] = []        # (seconds since start, req/s)
        self.disk: list[tuple[float, int, int]] = []    # (seconds since start, files, bytes)
        self.t0 = time.monotonic()
        self.threads = [threading.Thread(target=self._rate, daemon=True),
                        threading.Thread(target=self._disk, daemon=True)]

    def start(self):
        self.t0 = time.monotonic()
        for t in self.threads:
            t.start()

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join(30)

    def _rate(self):
        last_t, last_n = time.monotonic(), self.counter()
        while not self.stop_flag.wait(1.0 - (time.monotonic() - self.t0) % 1.0):
            try:
                n = self.counter()
            except OSError:
                continue
            t = time.monotonic()
            self.rps.append((round(t - self.t0, 2), (n - last_n) / (t - last_t)))
            last_t, last_n = t, n

    def _disk(self):
        while True:
            files, used = disk_usage(self.cache_dir)
            self.disk.append((round(time.monotonic() - self.t0, 2), files, used))
            if self.stop_flag.wait(self.disk_every):
                break


def run_target(target: C.Target, sc: C.Scenario, fleet: C.Fleet, cache_dir: Path, args, tmp: Path) -> dict:
    target.start(sc, fleet.ports, READY_PATH)
    try:
        counter = ((lambda: gateway_requests(target.admin_port)) if target.name == "gateway"
                   else (lambda: nginx_requests(target.port)))
        script = tmp / "churn.lua"
        script.write_text(WRK_SCRIPT)
        sampler = Sampler(counter, str(cache_dir), args.disk_every)
        cpu_before = C.cpu_seconds(target.pids())
        sampler.start()
        wrk = subprocess.run(["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s",
                              "-s", str(script), f"http://{HOST}:{target.port}/", str(args.keys), str(args.max_age)],
                             capture_output=True, text=True, timeout=args.duration + 120)
        sampler.stop()
        cpu = C.cpu_delta(cpu_before, C.cpu_seconds(target.pids()))
        # The sampler's last second may fall after wrk stopped.
        out = {"rps": [(t, r) for t, r in sampler.rps if t <= args.duration],
               "disk": sampler.disk, "wrk": C.parse_wrk(wrk.stdout),
               "cpu_seconds": round(cpu, 1)}
        if wrk.returncode != 0:
            out["wrk_error"] = wrk.stderr[-2000:]
        if target.name == "gateway":
            out["metrics"] = disk_bound.metrics(target.admin_port)
        return out
    finally:
        target.stop()


def slices(rps: list[tuple[float, float]], width: float) -> list[float]:
    """Mean req/s over each `width`-second slice of the run."""
    sums: dict[int, list[float]] = {}
    for t, r in rps:
        sums.setdefault(int((t - 1e-9) // width), []).append(r)
    return [sum(v) / len(v) for _, v in sorted(sums.items())]


def summary(name: str, res: dict, max_size: int, width: float) -> dict:
    per = slices(res["rps"], width)
    peak = max((b for _, _, b in res["disk"]), default=0)
    end_files, end_bytes = (res["disk"][-1][1], res["disk"][-1][2]) if res["disk"] else (0, 0)
    total = sum(r for _, r in res["rps"])
    return {"target": name, "per_slice": [round(x) for x in per],
            "flat": round(per[-1] / per[1], 3) if len(per) > 2 and per[1] else None,
            "mean_rps": round(total / len(res["rps"])) if res["rps"] else 0,
            "end_files": end_files, "end_bytes": end_bytes, "peak_bytes": peak,
            "peak_over_max_size": round(peak / max_size, 2),
            "cpu_us_per_request": round(res["cpu_seconds"] * 1e6 / total, 1) if total else None}


def report(sums: list[dict], width: float, args) -> str:
    unit = "min" if width == 60 else f"{width:g}s"
    n = max(len(s["per_slice"]) for s in sums)
    lines = [f"churn: {args.keys:,} random ids, 1-15 KiB, max_size {args.max_size:,} bytes, "
             f"{args.workers} worker(s), wrk -t{args.threads} -c{args.connections}, {args.duration} s per target",
             f"{'req/s per ' + unit:<22}" + "".join(f"{i + 1:>8}" for i in range(n))]
    for s in sums:
        lines.append(f"{s['target']:<22}" + "".join(f"{x:>8,}" for x in s["per_slice"]))
    lines.append("")
    lines.append(f"{'':<10}{'mean req/s':>11}{'last/2nd':>10}{'files end':>11}{'MB end':>9}"
                 f"{'peak/max_size':>15}{'CPU us/req':>12}")
    for s in sums:
        lines.append(f"{s['target']:<10}{s['mean_rps']:>11,}{s['flat'] if s['flat'] is not None else '-':>10}"
                     f"{s['end_files']:>11,}{s['end_bytes'] / 1e6:>9.1f}{s['peak_over_max_size']:>15}"
                     f"{s['cpu_us_per_request'] if s['cpu_us_per_request'] is not None else '-':>12}")
    if len(sums) == 2 and sums[1]["mean_rps"]:
        lines.append(f"gateway / nginx req/s: {sums[0]['mean_rps'] / sums[1]['mean_rps']:.2f}x")
    return "\n".join(lines)


def plot(results: dict, path: Path, max_size: int):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (a, b) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    for name, res in results["targets"].items():
        a.plot([t for t, _ in res["rps"]], [r for _, r in res["rps"]], label=name, linewidth=0.8)
        b.plot([t for t, _, _ in res["disk"]], [f for _, f, _ in res["disk"]], label=f"{name} files")
    a.set_ylabel("requests/s")
    a.set_title(f"miss path under churn ({results['commit']}, {results['date']}): {results['keys']:,} ids, "
                f"1-15 KiB, max_size {max_size >> 20} MiB")
    a.legend()
    a.grid(alpha=0.3)
    b.set_ylabel("files in the cache dir")
    b.set_xlabel("seconds")
    b.set_yscale("log")
    b.legend()
    b.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=600, help="seconds of load per target (default 600)")
    ap.add_argument("--quick", action="store_true", help="60 s per target")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--keys", type=int, default=2_000_000)
    ap.add_argument("--max-size", type=disk_bound.parse_size, default=disk_bound.parse_size("32MiB"))
    ap.add_argument("--max-age", type=int, default=60)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--instances", type=int, default=3, help="sample-service instances")
    ap.add_argument("--disk-every", type=float, default=2.0, help="seconds between walks of the cache dirs")
    ap.add_argument("--targets", default="gateway,nginx")
    ap.add_argument("--build-dir", default=str(C.ROOT / "build"))
    ap.add_argument("--out", default=None, help="file name stem in bench/results (default churn-<date>[-quick])")
    args = ap.parse_args()
    if args.quick:
        args.duration = 60
    build = Path(args.build_dir)
    for b in (build / "gateway", build / "sample-service"):
        if not b.exists():
            print(f"missing {b}: build the gateway and sample-service targets first", file=sys.stderr)
            return 2
    C.unwind_on_signals()
    procs = C.Procs()
    tmp = Path(tempfile.mkdtemp(prefix="churn."))
    try:
        return run(args, procs, tmp, build)
    finally:
        C.clean_up(procs, tmp)


def run(args, procs: C.Procs, tmp: Path, build: Path) -> int:
    sc = scenario(args.max_size)
    sc.instances = args.instances
    fleet = C.Fleet(procs, build / "sample-service", tmp, sc)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=C.ROOT).stdout.strip()
    date = datetime.date.today().isoformat()
    results = {"date": date, "commit": commit, "keys": args.keys, "max_size": args.max_size,
               "workers": args.workers, "duration": args.duration, "connections": args.connections,
               "targets": {}}
    for name in args.targets.split(","):
        if name == "gateway":
            target, cache_dir = C.Gateway(build / "gateway", procs, tmp, args.workers, 64), tmp / "gateway-cache"
        else:
            target, cache_dir = C.Nginx(procs, tmp, args.workers, 64), tmp / "nginx-cache"
        print(f"{name}: {args.duration} s ...", flush=True)
        fleet_before = fleet.stats()["requests"]
        results["targets"][name] = run_target(target, sc, fleet, cache_dir, args, tmp)
        results["targets"][name]["fleet_requests"] = fleet.stats()["requests"] - fleet_before
    width = 60.0 if args.duration >= 120 else 10.0
    sums = [summary(n, r, args.max_size, width) for n, r in results["targets"].items()]
    results["summary"] = sums
    text = report(sums, width, args)
    gw = results["targets"].get("gateway", {}).get("metrics")
    if gw:
        text += (f"\ngateway: stores {gw.get('gateway_cache_stores_total', 0):,}, evictions "
                 f"{gw.get('gateway_cache_evictions_total', 0):,}, not stored (disk backlog) "
                 f"{gw.get('gateway_cache_disk_backlog_refused_total', 0):,}, "
                 f"recycled files {gw.get('gateway_cache_recycled_files_total', 0):,}")
    print(text)
    RESULTS.mkdir(exist_ok=True)
    stem = args.out or f"churn-{date}{'-quick' if args.quick else ''}"
    (RESULTS / f"{stem}.json").write_text(json.dumps(results, indent=1) + "\n")
    plot(results, RESULTS / f"{stem}.png", args.max_size)
    print(f"wrote {RESULTS / stem}.json and .png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
