#!/usr/bin/env python3
"""Syscalls and heap calls per request, gateway next to nginx.

For each scenario, both targets run exactly as in bench/compare.py (its
started(): same fleet, same configs, same pre-flight), each with
bench/malloc_count.c preloaded (LD_PRELOAD, built here with cc). Per target:
prime (the scenario's before_round), a warm-up of --warmup requests, a wait
until the target is idle (under 2% of a core for 0.5 s: start-up work such as
the zone's bucket directories is not per-request cost), then exactly
--requests requests with `h2load --h1 -c64 -t2 -n N` while `perf stat -e 'syscalls:sys_enter_*' -p PIDS` counts every syscall of the
target's processes (all threads; perf's events are enabled by its control
FIFO just before the load and disabled just after), and the malloc counters
are read before and after. Prints, per scenario, syscalls by name per request
and heap calls per request, gateway and nginx side by side.

    python3 bench/syscalls.py [--scenario NAME ...] [--requests 10000] [--json FILE]

Default scenarios: proxy, cache-hit-1k, cache-hit-100k, composed-page.
Needs perf (linux-perf) with the syscalls tracepoints, h2load
(nghttp2-client), a C compiler, nginx. See bench/README.md, "Issue 14".
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare as C  # noqa: E402
from benchkit.session import add_target_options, binaries, session  # noqa: E402

DEFAULT_SCENARIOS = ["proxy", "cache-hit-1k", "cache-hit-100k", "composed-page"]
MALLOC_FIELDS = ("magic", "malloc", "calloc", "realloc", "free", "aligned", "bytes")


def build_malloc_count(tmp: Path) -> Path:
    so = tmp / "malloc_count.so"
    subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", str(so), str(C.BENCH / "malloc_count.c")],
                   check=True)
    return so


def read_malloc(path: Path) -> dict[str, int]:
    """The counters malloc_count.so keeps in its shared file."""
    raw = path.read_bytes()[:8 * len(MALLOC_FIELDS)]
    values = dict(zip(MALLOC_FIELDS, struct.unpack(f"{len(MALLOC_FIELDS)}Q", raw)))
    if values.pop("magic") != 0x6d616c6c6f63636e:
        raise RuntimeError(f"{path}: not written by malloc_count.so (LD_PRELOAD not applied?)")
    return values


class PerfSyscalls:
    """perf stat on every syscalls:sys_enter_* tracepoint of some processes,
    started disabled and switched on and off through its control FIFOs, so
    that only the load is counted (not perf's own attach and detach)."""

    def __init__(self, pids: list[int], tmp: Path, tag: str):
        self.out = tmp / f"perf-{tag}.csv"
        ctl, ack = tmp / f"perf-{tag}.ctl", tmp / f"perf-{tag}.ack"
        for f in (ctl, ack):
            f.unlink(missing_ok=True)
            os.mkfifo(f)
        self.proc = subprocess.Popen(
            ["perf", "stat", "-x,", "-e", "syscalls:sys_enter_*", "-p", ",".join(map(str, pids)),
             "-D", "-1", "--control", f"fifo:{ctl},{ack}", "-o", str(self.out)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            preexec_fn=C._pdeathsig)
        # Opening a FIFO blocks until perf opens the other end: it is ready.
        self.ctl = open(ctl, "w")
        self.ack = open(ack, "r")

    def _command(self, cmd: str):
        self.ctl.write(cmd + "\n")
        self.ctl.flush()
        # perf answers "ack\n\0": the NUL comes before the next answer.
        if not self.ack.readline().lstrip("\0").startswith("ack"):
            raise RuntimeError(f"perf stat: no ack for {cmd}")

    def enable(self):
        self._command("enable")

    def disable(self):
        self._command("disable")

    def finish(self) -> dict[str, int]:
        """Stops perf; the counts by syscall name (zeros left out)."""
        self.ctl.close()
        self.ack.close()
        self.proc.send_signal(C.signal.SIGINT)
        _, err = self.proc.communicate(timeout=30)
        counts = {}
        for line in self.out.read_text().splitlines():
            fields = line.split(",")
            if len(fields) < 3 or not fields[2].startswith("syscalls:sys_enter_"):
                continue
            if fields[0].isdigit() and int(fields[0]):
                counts[fields[2].removeprefix("syscalls:sys_enter_")] = int(fields[0])
        if not counts:
            raise RuntimeError(f"perf stat counted no syscall ({err.decode(errors='replace')[-500:]})")
        return counts


def run_h2load(port: int, path: str, n: int, connections: int = 64, threads: int = 2) -> dict:
    argv = ["h2load", "--h1", f"-n{n}", f"-c{connections}", f"-t{threads}", f"http://{C.HOST}:{port}{path}"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    m = C.re.search(r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded", out.stdout)
    ok2xx = C.re.search(r"status codes: (\d+) 2xx", out.stdout)
    if out.returncode != 0 or not m or int(m.group(3)) != n or not ok2xx or int(ok2xx.group(1)) != n:
        raise RuntimeError(f"{' '.join(argv)}: not {n} successful requests:\n{out.stdout[-800:]}{out.stderr[-400:]}")
    return {"command": " ".join(argv), "requests": n}


def measure(sc: C.Scenario, args, procs: C.Procs, tmp: Path, bins: dict, so: Path, log) -> dict:
    counter_file = {name: tmp / f"malloc-{sc.name}-{name}" for name in ("gateway", "nginx")}

    def env(name: str) -> dict:
        return {**os.environ, "LD_PRELOAD": str(so), "MALLOC_COUNT_FILE": str(counter_file[name])}

    res = {}
    with C.started(sc, args, procs, tmp, bins, log, env=env) as (_fleet, targets):
        for t in targets:
            path = C.round_path(sc, f"{t.name}-syscalls")
            if sc.before_round:
                sc.before_round(t, sc, path)
            run_h2load(t.port, path, args.warmup)
            # Start-up work (the gateway's zone makes its bucket directories in
            # the background) is not per-request cost: let it finish first.
            waited = C.wait_quiet(t.pids())
            if waited > 1:
                log(f"[{sc.name}] {t.name}: {waited:.1f} s until it was idle")
            perf = PerfSyscalls(t.pids(), tmp, f"{sc.name}-{t.name}")
            try:
                before = read_malloc(counter_file[t.name])
                perf.enable()
                load = run_h2load(t.port, path, args.requests)
                perf.disable()
                after = read_malloc(counter_file[t.name])
            finally:
                syscalls = perf.finish()
            heap = {k: after[k] - before[k] for k in after}
            res[t.name] = {"requests": args.requests, "load": load["command"],
                           "syscalls": syscalls, "heap": heap}
            log(f"[{sc.name}] {t.name}: {sum(syscalls.values()) / args.requests:.2f} syscalls/req, "
                f"{(heap['malloc'] + heap['calloc'] + heap['realloc'] + heap['aligned']) / args.requests:.2f} "
                f"allocations/req")
    return {"name": sc.name, "description": sc.description, "path": sc.path, "targets": res}


def allocations(heap: dict) -> int:
    return heap["malloc"] + heap["calloc"] + heap["realloc"] + heap["aligned"]


def table(result: dict, min_per_req: float = 0.005) -> str:
    g, n = result["targets"]["gateway"], result["targets"]["nginx"]
    rq = {"gateway": g["requests"], "nginx": n["requests"]}
    out = [f"== {result['name']}: per request, over {g['requests']:,} requests each "
           f"({g['load'].replace(str(g['load']).split()[-1], 'URL')})",
           f"   {'':<22} {'gateway':>9} {'nginx':>9}"]
    names = sorted(set(g["syscalls"]) | set(n["syscalls"]),
                   key=lambda s: -(g["syscalls"].get(s, 0) / rq["gateway"] + n["syscalls"].get(s, 0) / rq["nginx"]))
    rest = {"gateway": 0, "nginx": 0}
    for name in names:
        per = {t: r["syscalls"].get(name, 0) / rq[t] for t, r in (("gateway", g), ("nginx", n))}
        if max(per.values()) < min_per_req:
            for t in rest:
                rest[t] += per[t]
            continue
        out.append(f"   {name:<22} {per['gateway']:>9.3f} {per['nginx']:>9.3f}")
    if any(rest.values()):
        out.append(f"   {'(others)':<22} {rest['gateway']:>9.3f} {rest['nginx']:>9.3f}")
    tot = {t: sum(r["syscalls"].values()) / rq[t] for t, r in (("gateway", g), ("nginx", n))}
    out.append(f"   {'syscalls, all':<22} {tot['gateway']:>9.3f} {tot['nginx']:>9.3f}")
    out.append(f"   {'  per 10k requests':<22} {tot['gateway'] * 1e4:>9,.0f} {tot['nginx'] * 1e4:>9,.0f}")
    for label, f in (("allocations", allocations), ("  of which realloc", lambda h: h["realloc"]),
                     ("frees", lambda h: h["free"]), ("bytes allocated", lambda h: h["bytes"])):
        a, b = f(g["heap"]) / rq["gateway"], f(n["heap"]) / rq["nginx"]
        fmt = ".0f" if label == "bytes allocated" else ".3f"
        out.append(f"   {label:<22} {format(a, fmt):>9} {format(b, fmt):>9}")
    a, b = allocations(g["heap"]), allocations(n["heap"])
    out.append(f"   {'allocations per 10k':<22} {a * 1e4 / rq['gateway']:>9,.0f} {b * 1e4 / rq['nginx']:>9,.0f}")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", action="append", help=f"repeatable; default: {', '.join(DEFAULT_SCENARIOS)}")
    ap.add_argument("--requests", type=int, default=10000, help="measured requests per target (default 10000)")
    ap.add_argument("--warmup", type=int, default=2000, help="requests before the measurement (default 2000)")
    add_target_options(ap)
    ap.add_argument("--json", type=Path, help="also write the results as JSON to FILE")
    args = ap.parse_args(argv)
    args.size = None
    for tool in ("perf", "h2load", "cc", "nginx"):
        if not shutil.which(tool):
            sys.exit(f"syscalls.py: {tool} not found")
    bins = binaries(args.build_dir)
    known = {s.name: s for s in C.scenarios(args)}
    chosen = [known[name] for name in (args.scenario or DEFAULT_SCENARIOS)]
    C.raise_fd_limit(8192)
    try:
        with session("syscalls.py", argv, args.build_dir) as (procs, tmp, log, result):
            so = build_malloc_count(tmp)
            result["scenarios"] = [measure(sc, args, procs, tmp, bins, so, log) for sc in chosen]
    except KeyboardInterrupt:
        return 130
    m = result["machine"]
    print(f"$ {result['command']}")
    print(f"date: {m['date']}; gateway {m['gateway_build']} at {m['gateway_commit']}; {m['nginx']}; "
          f"{args.workers} worker(s) each; syscalls: perf stat syscalls:sys_enter_* on all the "
          f"target's processes and threads; heap: bench/malloc_count.c (LD_PRELOAD)")
    for sc in result["scenarios"]:
        print()
        print(table(sc))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
