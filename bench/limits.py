#!/usr/bin/env python3
"""Gateway vs nginx: an unlimited route next to a rate-limited one hammered at ~10x its limit.

Both targets get the same two routes in front of the same sample-service
fleet: /api/channels/2 limited per client address (gateway `limit: {rate:
200r/s, burst: 50, nodelay: true}`, nginx `limit_req_zone
$binary_remote_addr rate=200r/s` + `limit_req burst=50 nodelay`,
`limit_req_status 429`), and everything else proxied without a limit.
For each target, alternating A B A B:

  quiet    wrk on the unlimited route /api/channels/1 alone
  hammered the same, while a second wrk asks the limited route at ~2000
           req/s (20 connections, 10 ms between requests: ~10x the limit)

and prints medians of the unlimited route's req/s and p99 (quiet and
hammered), the hammer's rate and the share of it refused, and the ratios
gateway/nginx.

    python3 bench/limits.py [--quick] [--rounds N] [--duration S] [--workers N] [--json FILE]

Standard library only, plus benchkit. See bench/README.md.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import threading
from pathlib import Path

import compare as C
from benchkit.session import add_target_options, binaries, session

HOST = C.HOST
FREE_PATH = "/api/channels/1"
LIMITED_PATH = "/api/channels/2"
RATE = 200          # r/s on the limited route
HAMMER_CONNECTIONS = 20
HAMMER_DELAY_MS = 10  # per connection: 20 x 100/s = ~2000 req/s, ~10x the limit

SCENARIO = C.Scenario(
    name="limits",
    description="an unlimited route next to a rate-limited one",
    path=FREE_PATH,
    gateway_routes=(
        "  - prefix: /api/channels/2\n"
        "    upstream: @UPSTREAM@\n"
        f"    limit: {{rate: {RATE}r/s, burst: 50, nodelay: true}}\n"
        "  - prefix: /\n"
        "    upstream: @UPSTREAM@\n"),
    nginx_http=(f"    limit_req_zone $binary_remote_addr zone=limited:10m rate={RATE}r/s;\n"
                "    limit_req_status 429;\n"),
    nginx_locations=(
        "        location /api/channels/2 {\n"
        "            limit_req zone=limited burst=50 nodelay;\n"
        "            proxy_pass http://@UPSTREAM@;\n"
        "        }\n"
        "        location / {\n"
        "            proxy_pass http://@UPSTREAM@;\n"
        "        }\n"),
)


def hammer(port: int, duration: float, script: Path, out: dict):
    argv = ["wrk", "-t1", f"-c{HAMMER_CONNECTIONS}", f"-d{duration:g}s", "-s", str(script),
            f"http://{HOST}:{port}{LIMITED_PATH}"]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60)
    r = C.parse_wrk(p.stdout)
    out.update(rps=r["rps"], requests=r["requests"], refused=r["non_2xx_3xx"], command=" ".join(argv))


def run_round(target, duration: float, hammered: bool, script: Path) -> dict:
    ham: dict = {}
    thread = None
    if hammered:
        thread = threading.Thread(target=hammer, args=(target.port, duration + 1, script, ham))
        thread.start()
        threading.Event().wait(0.5)  # the hammer is going before the measurement starts
    r = C.run_wrk(SCENARIO, target.port, duration, FREE_PATH, connections=16, threads=1)
    if thread:
        thread.join()
        r["hammer"] = ham
    return r


def median(rounds: list[dict], get) -> float | None:
    values = [v for v in (get(r) for r in rounds) if v is not None]
    return statistics.median(values) if values else None


def report(result: dict) -> str:
    lines = [f"machine: {result['machine']['cpu']}, {result['machine']['nproc']} cores; "
             f"gateway {result['machine']['gateway_commit']}; {result['machine']['nginx']}",
             f"workers {result['config']['workers']}, {result['config']['rounds']} rounds of "
             f"{result['config']['duration']:g} s per target and mode; medians", "",
             f"{'target':<8} {'mode':<9} {'free req/s':>10} {'free p99 ms':>11} {'hammer req/s':>12} "
             f"{'refused':>8}  valid"]
    s = result["summary"]
    for t in ("gateway", "nginx"):
        for mode in ("quiet", "hammered"):
            x = s[t][mode]
            ham = (f"{x['hammer_rps']:>12.0f} {x['refused_share'] * 100:>7.1f}%" if x["hammer_rps"]
                   else f"{'-':>12} {'-':>8}")
            lines.append(f"{t:<8} {mode:<9} {x['rps'] or 0:>10.0f} {x['p99_ms'] or 0:>11.2f} {ham}  "
                         f"{x['valid']}/{result['config']['rounds']}")
    for mode in ("quiet", "hammered"):
        g, n = s["gateway"][mode], s["nginx"][mode]
        if g["rps"] and n["rps"] and g["p99_ms"] and n["p99_ms"]:
            lines.append(f"ratio {mode:<9} req/s {g['rps'] / n['rps']:.2f}x, p99 {g['p99_ms'] / n['p99_ms']:.2f}x "
                         "(gateway/nginx; req/s higher is better, p99 lower is better)")
    for t in ("gateway", "nginx"):
        q, h = s[t]["quiet"], s[t]["hammered"]
        if q["p99_ms"] and h["p99_ms"]:
            lines.append(f"{t}: the free route's p99 hammered/quiet {h['p99_ms'] / q['p99_ms']:.2f}x, "
                         f"req/s {h['rps'] / q['rps']:.2f}x")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2 rounds of 3 s")
    ap.add_argument("--rounds", type=int, help="rounds per target and mode (default 3; --quick 2)")
    ap.add_argument("--duration", type=float, help="seconds per round (default 5; --quick 3)")
    ap.add_argument("--json", type=Path, help="also write the results as JSON to FILE")
    add_target_options(ap)
    args = ap.parse_args(argv)
    args.rounds = args.rounds or (2 if args.quick else 3)
    args.duration = args.duration or (3.0 if args.quick else 5.0)
    for tool in ("wrk", "nginx"):
        if not shutil.which(tool):
            sys.exit(f"limits.py: {tool} not found (scripts/setup.sh bench installs it)")
    bins = binaries(args.build_dir)
    with session("limits.py", argv, args.build_dir) as (procs, tmp, log, result):
        result["config"] = {"workers": args.workers, "rounds": args.rounds, "duration": args.duration,
                            "rate": RATE, "hammer": f"{HAMMER_CONNECTIONS} connections, {HAMMER_DELAY_MS} ms apart"}
        script = tmp / "hammer.lua"
        script.write_text(f"function delay()\n  return {HAMMER_DELAY_MS}\nend\n")
        try:
            fleet = C.Fleet(procs, bins["sample-service"], tmp, SCENARIO)
            targets = [C.Gateway(bins["gateway"], procs, tmp, args.workers, args.keepalive),
                       C.Nginx(procs, tmp, args.workers, args.keepalive)]
            for t in targets:
                t.fleet = fleet
                t.start(SCENARIO, fleet.ports, FREE_PATH)
            rounds = {t.name: {"quiet": [], "hammered": []} for t in targets}
            for i in range(args.rounds):
                for mode in ("quiet", "hammered"):
                    for t in targets:
                        log(f"{t.name} {mode} round {i + 1}/{args.rounds}")
                        rounds[t.name][mode].append(run_round(t, args.duration, mode == "hammered", script))
        except KeyboardInterrupt:
            print("limits.py: interrupted; stopping everything", file=sys.stderr)
            return 130
        summary = {}
        for name, modes in rounds.items():
            summary[name] = {}
            for mode, rs in modes.items():
                ok = [r for r in rs if r["valid"]]
                hams = [r["hammer"] for r in rs if r.get("hammer") and r["hammer"].get("requests")]
                summary[name][mode] = {
                    "rps": median(ok, lambda r: r["rps"]), "p99_ms": median(ok, lambda r: r["p99_ms"]),
                    "hammer_rps": median(hams, lambda h: h["rps"]),
                    "refused_share": median(hams, lambda h: h["refused"] / h["requests"]) or 0,
                    "valid": len(ok)}
        result["rounds"], result["summary"] = rounds, summary
    print(f"$ {result['command']}")
    print(report(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if all(m["valid"] for t in summary.values() for m in t.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
