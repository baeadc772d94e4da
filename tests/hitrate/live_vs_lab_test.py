#!/usr/bin/env python3
"""A live gateway and `gateway-lab replay` give the same hit ratio on the
same trace (issue 13: within 0.5 points).

Generates a small Zipf trace (bench/hitrate_trace.py: 0.9, --requests over
--objects objects of 1-64 KiB), binds it to sample-service URLs whose entry
files charge exactly the trace's sizes, and for each policy (lru, s3fifo):
starts a real gateway (`memory: 0`, no `trace:`, a --max-size zone) in front
of a real two-instance sample-service fleet, replays the trace in order on
one connection, one request at a time, counting X-Cache: HIT; then runs
`gateway-lab replay` on the same trace file with the same policy and size,
and on the trace the gateway's zone captured of the run (`trace:`, the way
a user measures). Each object hit ratio must be within --bound points (0.5)
of the live one.

A fill the gateway refuses because evicted files still wait for deletion
(Cache-Status: detail=disk-backlog: timing, not policy) is asked again once
/metrics shows the backlog empty, uncounted (bench/hitrate_live.replay's
repair): for lru and s3fifo without admission that leaves the zone exactly
as the lab's insert would.

The check can fail, and the test shows it each time: the lab's ratio for the
other policy, and for the same policy at twice the size, must both be more
than --bound points from the live one (else the bound would not tell a
different cache from the same one).

    live_vs_lab_test.py --gateway BIN --sample-service BIN --lab BIN --source-dir DIR
                        [--requests 20000] [--objects 8000] [--max-size 4194304]
                        [--policies lru,s3fifo] [--lab-policy P] [--timeout 240]

--lab-policy replaces the policy given to the lab (a deliberate mismatch:
the test must then fail). Exit status 0 passed, 1 failed. Every process it
starts is stopped before it exits. Python standard library only.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gateway", required=True)
    ap.add_argument("--sample-service", required=True)
    ap.add_argument("--lab", required=True)
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--requests", type=int, default=20_000)
    ap.add_argument("--objects", type=int, default=8_000)
    ap.add_argument("--max-size", type=int, default=4 << 20)
    ap.add_argument("--policies", default="lru,s3fifo")
    ap.add_argument("--lab-policy", help="give the lab this policy instead (a deliberate mismatch)")
    ap.add_argument("--bound", type=float, default=0.5, help="points (default 0.5)")
    ap.add_argument("--timeout", type=float, default=240)
    return ap.parse_args()


def lab_hit_ratio(lab: str, trace: Path, policy: str, max_size: int) -> float:
    cmd = [lab, "replay", str(trace), "--policy", policy, "--size", str(max_size), "--admission", "none",
           "--format", "json"]
    return lab_run(cmd)


def lab_run(cmd: list[str]) -> float:
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if run.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {run.returncode}: {run.stderr.strip()}")
    return json.loads(run.stdout)["results"][0]["hit_ratio"]


def live_run(args, C, L, T, bound, fleet, procs, tmp: Path, policy: str, deadline: float, captured: Path):
    """The live replay's result and the gateway's /metrics counters; the
    gateway's zone writes its own trace of the run to `captured`."""
    import disk_bound
    cfg = L.Config(policy, "gateway", policy=policy)
    gw = C.Gateway(Path(args.gateway), procs, tmp, 2, 16)
    gw.start(L.scenario(cfg, args.max_size, tmp, trace=captured), fleet.ports, "/health")
    try:
        drained = lambda: disk_bound.metrics(gw.admin_port).get("gateway_cache_disk_backlog_files") == 0  # noqa: E731
        got = L.replay(gw.port, bound, gw.cache_header, depth=1, drained=drained,
                       deadline=deadline - time.monotonic())
        return got, disk_bound.metrics(gw.admin_port)
    finally:
        gw.stop()


def check_policy(args, C, L, T, bound, fleet, procs, tmp, trace, policy, deadline) -> list[str]:
    captured = tmp / f"captured-{policy}.trace"
    got, m = live_run(args, C, L, T, bound, fleet, procs, tmp, policy, deadline, captured)
    live = got.hits / got.requests
    lab_policy = args.lab_policy or policy
    lab = lab_hit_ratio(args.lab, trace, lab_policy, args.max_size)
    print(f"{policy}: live {100 * live:.2f}% ({got.hits}/{got.requests} hits, {got.refused} fills refused for the "
          f"deletion backlog and repaired, {m.get('gateway_cache_evictions_total', 0)} evictions); "
          f"lab ({lab_policy}) {100 * lab:.2f}%: {100 * (live - lab):+.2f} points", flush=True)
    failures = []
    if got.errors or got.repairs_refused:
        failures.append(f"{policy}: {got.errors} non-200 answers, {got.repairs_refused} repairs refused again")
    if abs(live - lab) * 100 > args.bound:
        failures.append(f"{policy}: live {100 * live:.2f}% and lab {100 * lab:.2f}% differ by more than "
                        f"{args.bound} points")
    # The user's way: the gateway's own trace of the run (`trace:`), replayed.
    # It holds every request the zone saw, with the sizes the zone charged:
    # the repeats of refused fills too, so the zone's ratio over all of them
    # is what it must match (a refused fill is flagged and replays unstored).
    seen = got.requests + got.refused
    live_all = got.hits / seen
    replayed = lab_hit_ratio(args.lab, captured, lab_policy, args.max_size)
    print(f"  captured: the zone's own trace, {captured.stat().st_size:,} bytes; live over all {seen} requests "
          f"{100 * live_all:.2f}%, lab {100 * replayed:.2f}% ({100 * (live_all - replayed):+.2f} points)", flush=True)
    if abs(live_all - replayed) * 100 > args.bound:
        failures.append(f"{policy}: live {100 * live_all:.2f}% and the lab on the captured trace "
                        f"{100 * replayed:.2f}% differ by more than {args.bound} points")
    # The bound must tell another cache from this one.
    others = [(p, args.max_size) for p in args.policies.split(",") if p != policy] + [(policy, 2 * args.max_size)]
    for other, size in others:
        ratio = lab_hit_ratio(args.lab, trace, other, size)
        print(f"  control: lab {other} at {size} bytes: {100 * ratio:.2f}% ({100 * (live - ratio):+.2f} points)")
        if abs(live - ratio) * 100 <= args.bound:
            failures.append(f"{policy}: the lab's {other} at {size} bytes is also within {args.bound} points: "
                            "the check cannot tell them apart")
    return failures


def main() -> int:
    args = parse_args()
    deadline = time.monotonic() + args.timeout
    sys.path.insert(0, str(Path(args.source_dir) / "bench"))
    import compare as C
    import hitrate_live as L
    import hitrate_trace as T

    procs = C.Procs()
    tmp = Path(tempfile.mkdtemp(prefix="live_vs_lab."))
    failures: list[str] = []
    try:
        bound = T.bind(T.zipf(args.requests, args.objects, 0.9, seed=7))
        trace = tmp / "zipf.trace"
        T.write(bound, trace)
        print(f"trace: {bound.requests} requests, {len(bound.charged)} objects, {bound.unique_bytes()} unique "
              f"bytes; zone {args.max_size} bytes", flush=True)
        fleet = C.Fleet(procs, Path(args.sample_service), tmp, L.scenario(L.Config("x", "gateway"), 1, tmp))
        for policy in args.policies.split(","):
            failures += check_policy(args, C, L, T, bound, fleet, procs, tmp, trace, policy, deadline)
    except Exception as e:  # a failed start, a replay error: the test fails with the reason
        failures.append(f"{type(e).__name__}: {e}")
    finally:
        C.clean_up(procs, tmp)
    for f in failures:
        print(f"FAILED: {f}", file=sys.stderr)
    print("passed" if not failures else f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
