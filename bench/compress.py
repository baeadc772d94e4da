#!/usr/bin/env python3
"""Compressed cache hits: gateway vs nginx, in the same run.

A cached 20 KiB JSON response asked for with `Accept-Encoding: gzip, br`. The
gateway stores a compressed copy of the entry per coding (made on the first
hit) and serves it like any hit; nginx (`gzip on; gzip_comp_level 5;
gzip_types application/json; gzip_vary on;`, proxy_cache) compresses the
cached body again on every hit. Same compression level (the gateway's
gzip_level 5; nginx has no brotli module here, so it answers gzip and the
gateway br, each the best it can). One sample-service fleet, the same worker
count, A B A B rounds of wrk; prints medians of req/s, p99, CPU per request,
the bytes per response each sends, and the ratio gateway/nginx.

    python3 bench/compress.py [--quick] [--rounds N] [--duration S] [--workers N] [--json FILE]

Standard library only, plus benchkit. See bench/README.md.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import urllib.request

import compare as C
from benchkit.session import add_target_options, binaries, session

PATH = "/api/channels/9?size=20480&cache_control=max-age=600"
ACCEPT = "gzip, br"

SCENARIO = C.Scenario(
    name="compress",
    description="cached 20 KiB JSON, Accept-Encoding: gzip, br",
    path=PATH,
    gateway_top=(
        "caches:\n"
        "  main: {path: \"@TMP@/gateway-cache-compress\", max_size: 1GiB, memory: 64MiB,\n"
        "         memory_entry_max: 64KiB, policy: s3fifo}\n"),
    gateway_routes=(
        "  - prefix: /\n"
        "    upstream: @UPSTREAM@\n"
        "    cache: {zone: main, ttl: 600s}\n"
        "    compress: {types: [application/json], gzip_level: 5, brotli_quality: 5}\n"),
    nginx_http=(C.NGINX_CACHE_HTTP.replace("@NAME@", "compress")
                + "    gzip on;\n    gzip_comp_level 5;\n    gzip_types application/json;\n"
                "    gzip_vary on;\n    gzip_proxied any;\n    gzip_min_length 256;\n"),
    nginx_locations=C.NGINX_CACHE_LOCATION.replace("proxy_cache_valid 200 60s;", "proxy_cache_valid 200 600s;"),
    wrk_args=["-H", f"Accept-Encoding: {ACCEPT}"],
)


def encoded_response(port: int) -> tuple[str, int]:
    """Content-Encoding and body bytes of one response to the load's request."""
    req = urllib.request.Request(f"http://{C.HOST}:{port}{PATH}", headers={"Accept-Encoding": ACCEPT})
    with urllib.request.urlopen(req, timeout=5) as r:
        return r.headers.get("Content-Encoding", "identity"), len(r.read())


def run_round(target, duration: float) -> dict:
    before = C.cpu_times(target.pids())
    r = C.run_wrk(SCENARIO, target.port, duration, PATH)
    after = C.cpu_times(target.pids())
    cpu = sum(u + k - sum(before.get(pid, (0, 0))) for pid, (u, k) in after.items())
    r["cpu_us_per_req"] = cpu / max(r.get("requests") or 1, 1) * 1e6
    return r


def median(rounds: list[dict], key: str):
    values = [r[key] for r in rounds if r.get("valid") and r.get(key) is not None]
    return statistics.median(values) if values else None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2 rounds of 3 s")
    ap.add_argument("--rounds", type=int, help="rounds per target (default 3; --quick 2)")
    ap.add_argument("--duration", type=float, help="seconds per round (default 8; --quick 3)")
    ap.add_argument("--json", type=__import__("pathlib").Path, help="also write the results as JSON")
    add_target_options(ap)
    args = ap.parse_args(argv)
    rounds = args.rounds or (2 if args.quick else 3)
    duration = args.duration or (3.0 if args.quick else 8.0)
    for tool in ("wrk", "nginx"):
        if not shutil.which(tool):
            sys.exit(f"compress.py: {tool} not found (scripts/setup.sh bench installs it)")
    bins = binaries(args.build_dir)
    for path in bins.values():
        if not os.access(path, os.X_OK):
            sys.exit(f"compress.py: {path} missing; build first")
    try:
        with session("compress.py", argv, args.build_dir) as (procs, tmp, log, result):
            fleet = C.Fleet(procs, bins["sample-service"], tmp, SCENARIO)
            targets = [C.Gateway(bins["gateway"], procs, tmp, args.workers, args.keepalive),
                       C.Nginx(procs, tmp, args.workers, args.keepalive)]
            for t in targets:
                t.fleet = fleet
                t.start(SCENARIO, fleet.ports, PATH)
                C.prime_cache(t, SCENARIO, PATH)
            result["encoding"] = {t.name: encoded_response(t.port) for t in targets}
            fleet_before = fleet.stats().get("requests")
            log("warm-up")
            for t in targets:
                run_round(t, 1.0)
            per = {t.name: [] for t in targets}
            for i in range(rounds):
                for t in targets:
                    log(f"{t.name} round {i + 1}/{rounds}")
                    per[t.name].append(run_round(t, duration))
            result["fleet_requests_during_load"] = (fleet.stats().get("requests") or 0) - (fleet_before or 0)
            result["rounds"] = per
            result["summary"] = {name: {k: median(rs, k) for k in ("rps", "p99_ms", "cpu_us_per_req")}
                                 for name, rs in per.items()}
    except KeyboardInterrupt:
        return 130
    s = result["summary"]
    print(f"$ {result['command']}")
    print(f"workers {args.workers}, {rounds} rounds of {duration:g} s per target, wrk -t2 -c64, medians; "
          f"fleet requests during the load: {result['fleet_requests_during_load']}")
    print(f"{'target':<8} {'coding':>8} {'bytes':>6} {'req/s':>10} {'p99 ms':>8} {'cpu us/req':>11}")
    for name in ("gateway", "nginx"):
        coding, size = result["encoding"][name]
        print(f"{name:<8} {coding:>8} {size:>6} {s[name]['rps'] or 0:>10.0f} {s[name]['p99_ms'] or 0:>8.2f} "
              f"{s[name]['cpu_us_per_req'] or 0:>11.1f}")
    if s["gateway"]["rps"] and s["nginx"]["rps"]:
        print(f"ratio gateway/nginx req/s: {s['gateway']['rps'] / s['nginx']['rps']:.2f}x (target >= 3x)")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if all(v["rps"] for v in s.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
