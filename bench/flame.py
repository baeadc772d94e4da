#!/usr/bin/env python3
"""Flame graphs of the gateway (and nginx) under load: the hit path and the
proxy path.

Both targets run as in bench/compare.py (its started()). For each scenario
and target: prime (a cache scenario), then `perf record -F 999 --call-graph
dwarf -p PIDS -- sleep S` while `wrk -t2 -c64` loads it for S + 1 seconds,
`perf script` folded into stacks (bench/flamegraph.py) and drawn as an SVG.
dwarf, not frame pointers (`-g`): a RelWithDebInfo build omits them, and
frame-pointer stacks stop at the first function without one
(`--call-graph fp` chooses them anyway).

    python3 bench/flame.py                      # writes bench/results/flame-{hit,proxy}-before.svg
    python3 bench/flame.py --tag after          # ... -after.svg (the merged code)
    python3 bench/flame.py --nginx              # also flame-{hit,proxy}-nginx-TAG.svg

Also writes the folded stacks next to each SVG (.folded.gz), for diffing or
redrawing: `zcat F.folded.gz | python3 bench/flamegraph.py --title T > F.svg`.
"""
from __future__ import annotations

import argparse
import gzip
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare as C  # noqa: E402
import flamegraph  # noqa: E402
from benchkit.session import add_target_options, binaries, session  # noqa: E402

# graph name -> compare.py scenario
GRAPHS = {"hit": "cache-hit-1k", "proxy": "proxy"}


def profile(t: C.Target, sc: C.Scenario, path: str, args, tmp: Path) -> tuple[str, dict]:
    """perf record during a wrk load; the `perf script` text and wrk's result."""
    data = tmp / f"perf-{sc.name}-{t.name}.data"
    perf = subprocess.Popen(["perf", "record", "-F", str(args.frequency), "--call-graph", args.call_graph,
                             "-p", ",".join(map(str, t.pids())), "-o", str(data), "--", "sleep", f"{args.seconds:g}"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            preexec_fn=C._pdeathsig)
    r = C.run_wrk(sc, t.port, args.seconds + 1, path)
    _, err = perf.communicate(timeout=120)
    if perf.returncode != 0 or not data.exists():
        raise RuntimeError(f"perf record: exit {perf.returncode}: {err.decode(errors='replace')[-500:]}")
    if not r["valid"]:
        raise RuntimeError(f"{t.name}: the load under perf failed: {r['problems']}")
    script = subprocess.run(["perf", "script", "-i", str(data), "-F", "comm,tid,time,event,ip,sym,dso"],
                            capture_output=True, text=True, errors="replace", timeout=900)
    if script.returncode != 0:
        raise RuntimeError(f"perf script: {script.stderr[-500:]}")
    return script.stdout, r


def draw(t: C.Target, sc: C.Scenario, graph: str, args, tmp: Path, log, commit: str):
    """Profiles t under the scenario's load; writes NAME.svg and NAME.folded.gz."""
    path = C.round_path(sc, f"{t.name}-flame")
    if sc.before_round:
        sc.before_round(t, sc, path)
    C.run_wrk(sc, t.port, 1.0, path)          # warm-up
    C.wait_quiet(t.pids())                   # start-up work done
    log(f"[{graph}] perf record {t.name} {args.seconds:g}s")
    text, r = profile(t, sc, path, args, tmp)
    stacks = flamegraph.fold(text.splitlines(True))
    name = f"flame-{graph}{'' if t.name == 'gateway' else '-nginx'}-{args.tag}"
    title = (f"{t.name}, {sc.name} ({commit}): wrk -t2 -c64, {r['rps']:,.0f} req/s; "
             f"perf -F {args.frequency} --call-graph {args.call_graph.split(',')[0]}, {args.seconds:g} s")
    with gzip.open(args.out_dir / f"{name}.folded.gz", "wt") as f:
        f.writelines(f"{s} {n}\n" for s, n in sorted(stacks.items()))
    (args.out_dir / f"{name}.svg").write_text(flamegraph.svg(stacks, title))
    log(f"[{graph}] wrote {args.out_dir / name}.svg ({sum(stacks.values()):,} samples)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--graph", action="append", choices=sorted(GRAPHS), help="default: hit and proxy")
    ap.add_argument("--tag", default="before", help="file name suffix (default before; the merged code: after)")
    ap.add_argument("--nginx", action="store_true", help="also profile nginx")
    ap.add_argument("--seconds", type=float, default=5.0, help="seconds recorded (default 5)")
    ap.add_argument("--frequency", type=int, default=999, help="perf record -F (default 999)")
    ap.add_argument("--call-graph", default="dwarf,16384", help="perf's --call-graph (default dwarf,16384)")
    ap.add_argument("--out-dir", type=Path, default=C.BENCH / "results")
    add_target_options(ap)
    args = ap.parse_args(argv)
    args.size = None
    bins = binaries(args.build_dir)
    known = {s.name: s for s in C.scenarios(args)}
    args.out_dir.mkdir(parents=True, exist_ok=True)
    try:
        with session("flame.py", argv, args.build_dir) as (procs, tmp, log, result):
            commit = result["machine"]["gateway_commit"]
            for graph in args.graph or list(GRAPHS):
                sc = known[GRAPHS[graph]]
                with C.started(sc, args, procs, tmp, bins, log) as (_fleet, targets):
                    for t in targets if args.nginx else targets[:1]:
                        draw(t, sc, graph, args, tmp, log, commit)
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
