#!/usr/bin/env python3
"""How the cost grows: req/s and p50/p99/p99.9 at 64, 1,000 and 10,000
connections, with 1 and 2 workers, gateway next to nginx.

Both targets run as in bench/compare.py (its started(): same fleet, configs
and pre-flight), with two changes for the large cells: nginx gets
`worker_connections` for the biggest cell plus upstream room and `backlog=4096`
on its listen (the gateway listens with SOMAXCONN, 4096 here; nginx's default
511 drops SYNs when 10,000 connections open at once). Every cell is
`wrk -t2 -cC -dDs --latency` (plus conf/p999.lua), gateway and nginx
alternating, --rounds rounds; a cache scenario's URL is primed before each
round, as in compare.py. The open-file limit is raised for wrk and the
targets (inherited).

    python3 bench/scale.py [--scenario proxy] [--connections 64,1000,10000]
                           [--workers 1,2] [--rounds 2] [--duration 5] [--json FILE]

Prints the planned load time up front, then one table: medians over valid
rounds, gateway/nginx ratios, and CPU microseconds per request.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare as C  # noqa: E402
from benchkit.session import add_target_options, binaries, session  # noqa: E402

DEFAULT_SCENARIOS = ["proxy", "cache-hit-1k"]
KEYS = ("rps", "p50_ms", "p99_ms", "p999_ms", "cpu_us_per_req", "errors")


def ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def one_round(t: C.Target, sc: C.Scenario, conns: int, duration: float, path: str) -> dict:
    """One wrk run. wrk's --timeout is 30 s, not 2 s: a slow answer counts in
    the latency percentiles instead of vanishing as a "timeout". Socket errors
    are counted (column "errors"), not fatal: at 10,000 connections they are
    part of the result. Non-2xx/3xx or unreadable output: invalid."""
    if sc.before_round:
        sc.before_round(t, sc, path)
    cpu_before = C.cpu_seconds(t.pids())
    r = C.run_wrk(dataclasses.replace(sc, wrk_args=[*sc.wrk_args, "--timeout", "30s"]), t.port, duration,
                  path, connections=conns, threads=2)
    cpu = C.cpu_delta(cpu_before, C.cpu_seconds(t.pids()))
    r["cpu_us_per_req"] = cpu / r["requests"] * 1e6 if r["requests"] else None
    r["errors"] = sum(r["socket_errors"].values())
    r["problems"] = [p for p in r["problems"] if not p.startswith("socket errors")]
    r["valid"] = not r["problems"]
    return r


def run_cells(sc: C.Scenario, workers: int, args, procs, tmp, bins, log) -> list[dict]:
    args.workers = workers
    cells = []
    with C.started(sc, args, procs, tmp, bins, log) as (_fleet, targets):
        for t in targets:
            one_round(t, sc, 64, args.warmup, C.round_path(sc, f"{t.name}-w{workers}-warm"))
        for conns in args.connections:
            runs = {t.name: [] for t in targets}
            for rnd in range(1, args.rounds + 1):
                for t in targets:
                    r = one_round(t, sc, conns, args.duration,
                                  C.round_path(sc, f"{t.name}-w{workers}-c{conns}-r{rnd}"))
                    runs[t.name].append(r)
                    log(f"[{sc.name} w{workers} c{conns}] round {rnd} {t.name}: {r['rps'] or 0:,.0f} req/s, "
                        f"p99 {r['p99_ms'] or 0:.2f} ms, p99.9 {r['p999_ms'] or 0:.2f} ms, "
                        f"socket errors {r['errors']}"
                        + ("" if r["valid"] else "  INVALID: " + "; ".join(r["problems"])))
            cell = {"scenario": sc.name, "workers": workers, "connections": conns, "targets": {}}
            for name, rs in runs.items():
                ok = [r for r in rs if r["valid"]]
                cell["targets"][name] = {
                    "valid": len(ok), "rounds": len(rs),
                    "problems": sorted({p for r in rs for p in r["problems"]}),
                    **{k: (statistics.median([r[k] for r in ok if r.get(k) is not None])
                           if any(r.get(k) is not None for r in ok) else None) for k in KEYS}}
            cells.append(cell)
    return cells


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def table(cells: list[dict]) -> str:
    out = ["| path | workers | conns | gateway req/s | nginx req/s | req/s ratio | gateway p50 / p99 / p99.9 ms "
           "| nginx p50 / p99 / p99.9 ms | p99 ratio | p99.9 ratio | CPU us/req gw / nginx | socket errors gw / nginx |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for c in cells:
        g, n = c["targets"]["gateway"], c["targets"]["nginx"]

        def ratio(k):
            return fmt(g[k] / n[k], ".2f") if g[k] and n[k] else "-"

        def lat(s):
            return " / ".join(fmt(s[k], ".2f") for k in ("p50_ms", "p99_ms", "p999_ms"))

        valid = "" if g["valid"] == g["rounds"] and n["valid"] == n["rounds"] else \
            f" (valid rounds: gateway {g['valid']}/{g['rounds']}, nginx {n['valid']}/{n['rounds']})"
        out.append(f"| {c['scenario']} | {c['workers']} | {c['connections']:,} | {fmt(g['rps'], ',.0f')} | "
                   f"{fmt(n['rps'], ',.0f')} | {ratio('rps')}{valid} | {lat(g)} | {lat(n)} | {ratio('p99_ms')} | "
                   f"{ratio('p999_ms')} | {fmt(g['cpu_us_per_req'], '.1f')} / {fmt(n['cpu_us_per_req'], '.1f')} | "
                   f"{fmt(g['errors'], ',.0f')} / {fmt(n['errors'], ',.0f')} |")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", action="append", help=f"repeatable; default: {', '.join(DEFAULT_SCENARIOS)}")
    ap.add_argument("--connections", type=ints, default=[64, 1000, 10000], help="default 64,1000,10000")
    ap.add_argument("--workers", dest="worker_counts", type=ints, default=[1, 2], help="default 1,2")
    ap.add_argument("--rounds", type=int, default=2, help="rounds per target per cell (default 2)")
    ap.add_argument("--duration", type=float, default=5.0, help="seconds per round (default 5)")
    ap.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per target (default 1)")
    add_target_options(ap, workers=False)
    ap.add_argument("--json", type=Path, help="also write the results as JSON to FILE")
    args = ap.parse_args(argv)
    args.size = None
    bins = binaries(args.build_dir)
    known = {s.name: s for s in C.scenarios(args)}
    chosen = [known[name] for name in (args.scenario or DEFAULT_SCENARIOS)]
    biggest = max(args.connections)
    # Clients plus as many upstream connections (nginx opens one per request
    # in flight beyond its idle pool), where the limit allows.
    have = C.raise_fd_limit(2 * biggest + 4096)
    if have < biggest + 1000:
        sys.exit(f"scale.py: {biggest} connections need more open files than the limit {have}")
    C.Nginx.worker_connections = max(C.Nginx.worker_connections, min(2 * biggest + 2000, have - 1000))
    C.Nginx.listen_options = " backlog=4096"
    load_s = (len(chosen) * len(args.worker_counts)
              * (len(args.connections) * args.rounds * 2 * args.duration + 2 * args.warmup))
    print(f"scale.py: {len(chosen)} scenario(s) x workers {args.worker_counts} x connections "
          f"{args.connections} x {args.rounds} rounds x 2 targets x {args.duration:g} s: "
          f"{load_s / 60:.1f} min of load, plus start-up and priming", file=sys.stderr, flush=True)
    try:
        with session("scale.py", argv, args.build_dir) as (procs, tmp, log, result):
            result["cells"] = []
            for workers in args.worker_counts:
                for sc in chosen:
                    result["cells"] += run_cells(sc, workers, args, procs, tmp, bins, log)
    except KeyboardInterrupt:
        return 130
    m = result["machine"]
    print(f"$ {result['command']}")
    print(f"date: {m['date']}; gateway {m['gateway_build']} at {m['gateway_commit']}; {m['nginx']}; "
          f"wrk -t2, {args.rounds} rounds x {args.duration:g} s per target per cell, alternating; "
          f"medians over valid rounds; wrk, fleet and both targets share {m['nproc']} cores")
    print(table(result["cells"]))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
