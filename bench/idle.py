#!/usr/bin/env python3
"""Memory per idle keep-alive connection, gateway next to nginx, at sizes
bench/compare.py cannot reach (10,000 and 100,000 connections).

compare.py's `--idle-connections N` is the reference for small N; this
script does the same measurement (the `proxy` scenario, fresh processes,
one request on each connection, RSS growth / N after 1 s idle) with what
large N needs:
  - the open-file limit raised, soft and hard (root: up to fs.nr_open),
    here and in the children;
  - nginx's worker_connections raised to match;
  - several client source addresses (127.0.0.2, .3, ...): one source
    address has ~28k ephemeral ports to one destination.
It then checks that every connection is still open and that a sample of
them still answers (an idle connection that parked must wake up).

    python3 bench/idle.py [--connections N ...] [--build-dir DIR] [--json FILE]

Standard library only; imports bench/compare.py for the targets.
"""
from __future__ import annotations

import argparse
import json
import resource
import socket
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare  # noqa: E402

PER_SOURCE = 20000  # connections per client source address (of ~28k ports)


def raise_fd_limit(n: int) -> int:
    want = n + 8192
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))  # root only
        except (ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    else:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def open_idle(port: int, req: bytes, n: int, deadline_s: float) -> list[socket.socket]:
    socks: list[socket.socket] = []
    deadline = time.monotonic() + deadline_s
    try:
        for i in range(n):
            if time.monotonic() > deadline:
                raise RuntimeError(f"idle test over {deadline_s}s after {i} connections")
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(s)
            s.settimeout(5)
            s.setsockopt(socket.IPPROTO_IP, 24, 1)  # IP_BIND_ADDRESS_NO_PORT
            s.bind((f"127.0.0.{2 + i // PER_SOURCE}", 0))
            s.connect((compare.HOST, port))
            s.sendall(req)
            if compare._read_response(s) != 200:
                raise RuntimeError("non-200 in the idle test")
    except BaseException:
        for s in socks:
            s.close()
        raise
    return socks


def still_open(socks: list[socket.socket]) -> int:
    n = 0
    for s in socks:
        s.setblocking(False)
        try:
            if s.recv(1, socket.MSG_PEEK) == b"":
                continue
        except BlockingIOError:
            pass
        except OSError:
            continue
        n += 1
    return n


def sample_requests(socks: list[socket.socket], req: bytes, every: int) -> tuple[int, int]:
    ok = tried = 0
    for s in socks[::every]:
        tried += 1
        s.settimeout(5)
        try:
            s.sendall(req)
            if compare._read_response(s) == 200:
                ok += 1
        except OSError:
            pass
    return ok, tried


def measure(target: compare.Target, path: str, n: int) -> dict:
    req = f"GET {path} HTTP/1.1\r\nHost: {compare.HOST}:{target.port}\r\n\r\n".encode()
    with socket.create_connection((compare.HOST, target.port), timeout=5) as s:
        for _ in range(50):
            s.sendall(req)
            compare._read_response(s)
    time.sleep(1.0)
    before = target.rss()
    t0 = time.monotonic()
    socks = open_idle(target.port, req, n, deadline_s=300)
    opened = time.monotonic() - t0
    try:
        time.sleep(1.0)
        after = target.rss()
        alive = still_open(socks)
        ok, tried = sample_requests(socks, req, max(1, n // 1000))
    finally:
        for s in socks:
            s.close()
    return {"connections": n, "still_open": alive, "sample_ok": ok, "sample_tried": tried,
            "rss_before": before, "rss_after": after, "open_seconds": round(opened, 1),
            "bytes_per_connection": (after - before) / n}


def run(n: int, args, bins: dict, log) -> dict:
    compare.Nginx.worker_connections = n + 1000
    procs = compare.Procs()
    tmp = Path(tempfile.mkdtemp(prefix="gw-idle-"))
    sc = {s.name: s for s in compare.scenarios(argparse.Namespace(size=None))}["proxy"]
    try:
        fleet = compare.Fleet(procs, bins["sample-service"], tmp, sc)
        targets = [compare.Gateway(bins["gateway"], procs, tmp, args.workers, 64),
                   compare.Nginx(procs, tmp, args.workers, 64)]
        res = {}
        for t in targets:
            t.start(sc, fleet.ports, compare.round_path(sc, f"{t.name}-ready"))
        for t in targets:
            log(f"{n} idle keep-alive connections to {t.name}")
            res[t.name] = measure(t, compare.round_path(sc, "memory"), n)
            log(f"  {t.name}: {res[t.name]['bytes_per_connection']:.0f} B/connection, "
                f"{res[t.name]['still_open']} open, sample {res[t.name]['sample_ok']}/"
                f"{res[t.name]['sample_tried']} answered")
        g, x = res["gateway"]["bytes_per_connection"], res["nginx"]["bytes_per_connection"]
        return {"connections": n, "targets": res, "ratio": g / x if x > 0 else None}
    finally:
        compare.clean_up(procs, tmp)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--connections", type=int, action="append", help="repeatable (default 10000)")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--build-dir", type=Path, default=compare.ROOT / "build")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    sizes = args.connections or [10000]
    limit = raise_fd_limit(max(sizes))
    if limit < max(sizes) + 2000:
        sys.exit(f"idle.py: open-file limit {limit} too low for {max(sizes)} connections (run as root)")
    bins = {b: args.build_dir / b for b in ("gateway", "sample-service")}
    compare.unwind_on_signals()
    log = compare.progress_log()
    out = [run(n, args, bins, log) for n in sizes]
    for r in out:
        g, x = r["targets"]["gateway"], r["targets"]["nginx"]
        print(f"{r['connections']:>7} idle: gateway {g['bytes_per_connection']:7.0f} B/conn "
              f"({g['still_open']} open, {g['sample_ok']}/{g['sample_tried']} answered), "
              f"nginx {x['bytes_per_connection']:7.0f} B/conn ({x['still_open']} open), "
              f"ratio {r['ratio']:.2f}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
