#!/usr/bin/env python3
"""Hit ratios side by side: the gateway per eviction policy and admission,
nginx proxy_cache with min_uses 1 and 2, on the same trace, live.

Generates a Zipf trace (default: alpha 0.9, 300k requests over 128k
objects of 1-64 KiB, log-normal sizes; with `gateway-lab synth zipf` when
the lab is built, else in Python with the same parameters), binds it to
sample-service URLs (bench/hitrate_trace.py) and replays it in order on one
pipelined connection through each target, one run per configuration and
zone size (1%, 5%, 10% of the trace's unique bytes, charged in 4 KiB
blocks):

  gateway   memory: 0 (a disk cache like nginx's), policy lru, s3fifo,
            s3fifo:promote=2, sieve, and s3fifo with admission min_uses:2 and
            tinylfu; X-Cache: HIT counts a hit
  nginx     proxy_cache, max_size at the same bytes, proxy_cache_min_uses 1
            and 2; X-Cache-Status: HIT counts a hit; the replay pauses while
            the cache directory is past (1 + --nginx-overshoot) x max_size,
            until nginx's cache manager, which checks max_size only when it
            wakes, catches up (hitrate_live.NGINX_TICK wakes it every 1-2 s
            instead of every 10 s)

For each run: object and byte hit ratio (bytes: the charged sizes), the
peak of the cache directory's files (4 KiB blocks, walked every 0.2 s)
against max_size, the gateway's fills refused for its deletion backlog,
and, when gateway-lab is built, the lab's prediction for the same trace,
policy, admission and size (`gateway-lab replay`; nginx is modelled as lru
with admission min_uses:N). A table on stdout, JSON in
bench/results/hitrate-<date>.json.

    python3 bench/hitrate.py [--quick] [--sizes 1,5,10] [--configs lru,s3fifo,...]
                             [--trace FILE] [--keep-trace FILE] [--json FILE]

--quick: 30k requests over 12.8k objects, sizes 5,10, four configurations.
Bounded in time (--max-minutes); stops everything it started, also on
failure or Ctrl-C. Standard library only; needs nginx for its rows.
"""
from __future__ import annotations

import argparse
import datetime
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare as C  # noqa: E402
import disk_bound  # noqa: E402
import hitrate_live as L  # noqa: E402
import hitrate_trace as T  # noqa: E402

CONFIGS = {c.name: c for c in [
    L.Config("lru", "gateway", policy="lru"),
    L.Config("s3fifo", "gateway", policy="s3fifo"),
    L.Config("s3fifo:promote=2", "gateway", policy="s3fifo:promote=2"),
    L.Config("sieve", "gateway", policy="sieve"),
    L.Config("s3fifo+min_uses:2", "gateway", policy="s3fifo", admission="min_uses:2"),
    L.Config("s3fifo+tinylfu", "gateway", policy="s3fifo", admission="tinylfu"),
    L.Config("nginx min_uses 1", "nginx", min_uses=1),
    L.Config("nginx min_uses 2", "nginx", min_uses=2),
]}
QUICK_CONFIGS = ["lru", "s3fifo", "nginx min_uses 1", "nginx min_uses 2"]


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a small run (30k requests, 2 sizes, 4 configurations)")
    ap.add_argument("--requests", type=int, default=300_000)
    ap.add_argument("--objects", type=int, default=128_000)
    ap.add_argument("--alpha", type=float, default=0.9)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--sizes", default="1,5,10", help="zone sizes in %% of the unique bytes (default 1,5,10)")
    ap.add_argument("--configs", default=",".join(CONFIGS),
                    help=f"comma-separated, of: {', '.join(CONFIGS)} (names with ',' are not allowed)")
    ap.add_argument("--trace", type=Path, help="replay this gateway-format trace instead of generating one")
    ap.add_argument("--keep-trace", type=Path, help="write the bound trace (replayable by gateway-lab) here")
    ap.add_argument("--nginx-overshoot", type=float, default=0.5,
                    help="pause the replay while nginx's cache directory is past (1 + this) x max_size, until its "
                         "cache manager catches up (default 0.5)")
    ap.add_argument("--no-repair", dest="repair", action="store_false",
                    help="only count the fills the gateway refuses for its deletion backlog (default: ask again "
                         "once the backlog drained, uncounted, so the zone holds what the policy chose)")
    ap.add_argument("--depth", type=int, default=32, help="requests in flight on the connection (default 32)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--max-minutes", type=float, default=90.0, help="stop the whole run after this long")
    ap.add_argument("--build-dir", default=str(C.ROOT / "build"))
    ap.add_argument("--lab", help="gateway-lab binary (default: BUILD/gateway-lab if present; 'none' to skip)")
    ap.add_argument("--json", type=Path, help="default bench/results/hitrate-<date>.json")
    ap.add_argument("--merge", type=Path, nargs="+", metavar="JSON",
                    help="run nothing: merge earlier results (their runs, in order), add the lab's predictions "
                         "missing from them (with --trace, the bound trace they replayed), print the table")
    args = ap.parse_args(argv)
    if args.quick:
        args.requests, args.objects = 30_000, 12_800
        if args.sizes == "1,5,10":
            args.sizes = "5,10"
        if args.configs == ",".join(CONFIGS):
            args.configs = ",".join(QUICK_CONFIGS)
    args.sizes = [float(s) for s in args.sizes.split(",")]
    args.configs = [s.strip() for s in args.configs.split(",") if s.strip()]
    unknown = [c for c in args.configs if c not in CONFIGS]
    if unknown:
        ap.error(f"unknown configuration(s) {unknown}; known: {list(CONFIGS)}")
    return args


def lab_binary(args) -> Path | None:
    if args.lab == "none":
        return None
    path = Path(args.lab) if args.lab else Path(args.build_dir) / "gateway-lab"
    return path if path.exists() else None


def make_trace(args, lab: Path | None, tmp: Path, log) -> tuple[T.Bound, str]:
    """The bound trace and where it came from."""
    if args.trace:
        return T.bind(T.read(args.trace)), f"file {args.trace}"
    if lab:
        raw = tmp / "synth.trace"
        cmd = [str(lab), "synth", "zipf", "--alpha", str(args.alpha), "--requests", str(args.requests),
               "--objects", str(args.objects), "--size", "lognormal:1k-64k", "--seed", str(args.seed),
               "-o", str(raw)]
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if run.returncode == 0:
            return T.bind(T.read(raw)), " ".join(["gateway-lab"] + cmd[1:-2])
        log(f"gateway-lab synth failed ({run.returncode}: {run.stderr.strip()[:300]}); generating in Python")
    trace = T.zipf(args.requests, args.objects, args.alpha, args.seed)
    return T.bind(trace), (f"python zipf alpha={args.alpha} requests={args.requests} objects={args.objects} "
                           f"sizes=lognormal 1k-64k seed={args.seed}")


def lab_predict(lab: Path, trace: Path, cfg: L.Config, max_size: int) -> dict | None:
    """The lab's replay of the same trace for this configuration, or None."""
    policy, admission = cfg.lab_args()
    cmd = [str(lab), "replay", str(trace), "--policy", policy, "--size", str(max_size),
           "--admission", admission, "--format", "json"]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if run.returncode != 0:
        return {"error": run.stderr.strip()[:300], "command": " ".join(cmd)}
    row = json.loads(run.stdout)["results"][0]
    return {"object_hit_ratio": row["hit_ratio"], "byte_hit_ratio": row["byte_hit_ratio"],
            "requests_per_s": row.get("requests_per_s"), "command": " ".join(cmd)}


def check_stored_size(fleet_ports, procs, tmp, bins, args):
    """Preflight: the gateway stores the trace's largest and smallest bodies
    in files of exactly their charged blocks (BODY_SLACK leaves room for the
    stored head), so the lab's sizes are the live zone's."""
    cfg = CONFIGS["lru"]
    sc = L.scenario(cfg, 64 << 20, tmp)
    gw = C.Gateway(bins["gateway"], procs, tmp, args.workers, 32)
    gw.start(sc, fleet_ports, "/health")
    try:
        for target in ("/api/channels/99999999?size=" + str(65536 - T.BODY_SLACK),
                       "/api/channels/0?size=" + str(4096 - T.BODY_SLACK)):
            for _ in range(2):
                C.http_get(gw.port, target)
        sizes = sorted(p.stat().st_size for p in L.zone_dir(tmp, cfg).rglob("*-*") if p.is_file() and p.stat().st_size)
        want = [4096, 65536]
        got = [disk_bound.charged(s) for s in sizes]
        if got != want:
            raise RuntimeError(f"stored entry files of {sizes} bytes charge {got}, not {want}: "
                               f"hitrate_trace.BODY_SLACK ({T.BODY_SLACK}) no longer fits the stored head")
        return sizes[0] - (4096 - T.BODY_SLACK)
    finally:
        gw.stop()
        shutil.rmtree(L.zone_dir(tmp, cfg), ignore_errors=True)


def run_one(cfg: L.Config, max_size: int, bound: T.Bound, fleet_ports, procs, tmp, bins, args, log) -> dict:
    sc = L.scenario(cfg, max_size, tmp)
    zone = L.zone_dir(tmp, cfg)
    shutil.rmtree(zone, ignore_errors=True)
    target = (C.Gateway(bins["gateway"], procs, tmp, args.workers, 32) if cfg.target == "gateway"
              else C.Nginx(procs, tmp, args.workers, 32))
    target.start(sc, fleet_ports, "/health")
    left = args.deadline - time.monotonic()
    report = lambda d, n, s: log(f"  {cfg.name}: {d}/{n} in {s:.0f}s")  # noqa: E731
    try:
        with L.DiskSampler(zone) as sampler:
            if cfg.target == "nginx":
                allowed = (1 + args.nginx_overshoot) * max_size
                with L.NginxTicker(target.port):
                    got = L.replay(target.port, bound, target.cache_header, depth=args.depth,
                                   hold=sampler.hold(allowed), deadline=left, progress=report)
            else:
                drained = (lambda: disk_bound.metrics(target.admin_port).get("gateway_cache_disk_backlog_files") == 0)
                got = L.replay(target.port, bound, target.cache_header, depth=args.depth,
                               drained=drained if args.repair else None, deadline=left, progress=report)
        out = {"config": cfg.name, "target": cfg.target, "max_size": max_size, **got.as_dict(),
               "disk": sampler.result()}
        if cfg.target == "gateway":
            m = disk_bound.metrics(target.admin_port)
            out["gateway"] = {k: m.get(f"gateway_cache_{k}", 0) for k in (
                "stores_total", "evictions_total", "disk_backlog_refused_total", "bytes", "disk_bytes")}
        else:
            out["nginx_overshoot_allowed"] = args.nginx_overshoot
        return out
    finally:
        target.stop()
        shutil.rmtree(zone, ignore_errors=True)
        shutil.rmtree(f"{zone}-tick", ignore_errors=True)


def pct(x) -> str:
    return "-" if x is None else f"{100 * x:5.1f}"


def table(result: dict) -> str:
    lines = [f"trace: {result['trace']['source']}",
             f"       {result['trace']['requests']:,} requests, {result['trace']['objects']:,} objects, "
             f"{result['trace']['unique_bytes']:,} unique bytes (charged in 4 KiB blocks)",
             "hit ratios in %: live object / byte, the lab's prediction of the object ratio; peak disk: the "
             "cache directory's files (4 KiB blocks) / max_size, and past max_size in KiB",
             f"{'size':>5} {'configuration':<20} {'obj':>6} {'byte':>6} {'lab':>6} {'peak disk':>10} "
             f"{'over KiB':>9} {'refused':>8} {'req/s':>7} {'paused s':>8}"]
    for r in result["runs"]:
        lab = r.get("lab") or {}
        refused = r["refused"] if r["target"] == "gateway" else "-"
        lines.append(f"{r['size_pct']:>4g}% {r['config']:<20} {pct(r['object_hit_ratio']):>6} "
                     f"{pct(r['byte_hit_ratio']):>6} {pct(lab.get('object_hit_ratio')):>6} "
                     f"{r['disk']['peak_bytes'] / r['max_size']:>9.3f}x "
                     f"{max(0, r['disk']['peak_bytes'] - r['max_size']) // 1024:>9,} {refused!s:>8} "
                     f"{r['requests_per_second']:>7.0f} {r['paced_seconds']:>8.1f}")
    lines += verdict(result)
    return "\n".join(lines)


def verdict(result: dict) -> list[str]:
    """The issue's target: the gateway's best default beats nginx min_uses 2
    by >= 2 points at every size."""
    out = []
    by = {(r["size_pct"], r["config"]): r for r in result["runs"]}
    for size in sorted({r["size_pct"] for r in result["runs"]}):
        ng = by.get((size, "nginx min_uses 2"))
        gw = [r for (s, c), r in by.items() if s == size and r["target"] == "gateway" and "+" not in c]
        if not ng or not gw:
            continue
        best = max(gw, key=lambda r: r["object_hit_ratio"])
        margin = 100 * (best["object_hit_ratio"] - ng["object_hit_ratio"])
        out.append(f"{size:g}%: best gateway policy without admission {best['config']} "
                   f"{pct(best['object_hit_ratio']).strip()}% vs nginx min_uses 2 "
                   f"{pct(ng['object_hit_ratio']).strip()}%: {margin:+.1f} points "
                   f"({'meets' if margin >= 2 else 'misses'} the +2 target)")
    return out


def run(args, procs, tmp, log) -> dict:
    bins = {"gateway": Path(args.build_dir) / "gateway", "sample-service": Path(args.build_dir) / "sample-service"}
    missing = [str(b) for b in bins.values() if not b.exists()]
    if missing:
        raise SystemExit(f"missing {missing}: build the gateway and sample-service targets first")
    if any(CONFIGS[c].target == "nginx" for c in args.configs) and not shutil.which("nginx"):
        raise SystemExit("nginx not found (apt-get install nginx) or leave out the nginx configurations")
    lab = lab_binary(args)
    bound, source = make_trace(args, lab, tmp, log)
    trace_path = args.keep_trace or tmp / "bound.trace"
    T.write(bound, trace_path)
    unique = bound.unique_bytes()
    log(f"trace: {source}: {bound.requests:,} requests, {len(bound.charged):,} objects, {unique:,} bytes")
    fleet = C.Fleet(procs, bins["sample-service"], tmp, L.scenario(CONFIGS["lru"], 1, tmp))
    head = check_stored_size(fleet.ports, procs, tmp, bins, args)
    result = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "machine": C.machine_info(Path(args.build_dir)),
              "trace": {"source": source, "requests": bound.requests, "objects": len(bound.charged),
                        "unique_bytes": unique, "body_slack": T.BODY_SLACK, "stored_head_bytes": head,
                        "file": str(args.keep_trace) if args.keep_trace else None},
              "lab": str(lab) if lab else None, "runs": []}
    for size in args.sizes:
        max_size = int(unique * size / 100) // T.BLOCK * T.BLOCK
        for name in args.configs:
            cfg = CONFIGS[name]
            if time.monotonic() > args.deadline - 60:
                log(f"{size:g}%: {name}: skipped, --max-minutes reached")
                continue
            log(f"{size:g}% ({max_size:,} bytes): {name}")
            try:
                row = run_one(cfg, max_size, bound, fleet.ports, procs, tmp, bins, args, log)
            except L.ReplayError as e:
                log(f"  {name}: {e}")
                result.setdefault("failed", []).append({"config": name, "size_pct": size, "error": str(e)})
                continue
            row["size_pct"] = size
            if lab:
                row["lab"] = lab_predict(lab, trace_path, cfg, max_size)
            result["runs"].append(row)
            args.json.write_text(json.dumps(result, indent=2) + "\n")   # so far, in case the run is cut short
            log(f"  object hit ratio {pct(row['object_hit_ratio'])}%, byte {pct(row['byte_hit_ratio'])}%, "
                f"peak disk {row['disk']['peak_bytes'] / max_size:.3f}x max_size, "
                f"{row['requests_per_second']:.0f} req/s")
    return result


def merge(args) -> dict:
    results = [json.loads(p.read_text()) for p in args.merge]
    result = results[0]
    for other in results[1:]:
        result["runs"] += other["runs"]
        result.setdefault("failed", []).extend(other.get("failed", []))
    lab = lab_binary(args)
    if lab and args.trace:
        result["lab"] = str(lab)
        for row in result["runs"]:
            if not row.get("lab"):
                row["lab"] = lab_predict(lab, args.trace, CONFIGS[row["config"]], row["max_size"])
    return result


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.merge:
        result = merge(args)
        print(table(result))
        if args.json:
            args.json.write_text(json.dumps(result, indent=2) + "\n")
        return 0
    args.deadline = time.monotonic() + args.max_minutes * 60
    args.json = args.json or C.BENCH / "results" / f"hitrate-{datetime.date.today().isoformat()}.json"
    args.json.parent.mkdir(parents=True, exist_ok=True)
    log = C.progress_log()
    C.unwind_on_signals()
    procs = C.Procs()
    tmp = Path(tempfile.mkdtemp(prefix="hitrate."))
    try:
        result = run(args, procs, tmp, log)
    finally:
        C.clean_up(procs, tmp)
    print(table(result))
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"JSON: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
