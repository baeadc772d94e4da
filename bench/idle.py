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

`--h2`: the same with HTTP/2 over cleartext (prior knowledge: the
gateway's `h2c: true`, nginx's `listen ... http2`), one GET per
connection, a minimal client here (no HPACK state: literal fields only).

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


# HTTP/2 over cleartext, prior knowledge, just enough for one GET at a time.

def h2_frame(ftype: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    return len(payload).to_bytes(3, "big") + bytes([ftype, flags]) + stream.to_bytes(4, "big") + payload


def h2_request(port: int, path: str, stream: int) -> bytes:
    def literal(index: int, value: str) -> bytes:  # literal without indexing, indexed name
        return bytes([index, len(value)]) + value.encode()
    block = b"\x82\x86" + literal(4, path) + literal(1, f"{compare.HOST}:{port}")  # GET, http
    return h2_frame(1, 0x5, stream, block)  # HEADERS, END_STREAM | END_HEADERS


H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + h2_frame(4, 0, 0)


def h2_read_response(sock: socket.socket, stream: int) -> int:
    """Reads frames until the response on `stream` ends; 200 if its status
    was 200 (HPACK's indexed :status 200), else 0. ACKs the server's SETTINGS."""
    buf, status = b"", 0
    while True:
        while len(buf) < 9 or len(buf) < 9 + int.from_bytes(buf[:3], "big"):
            chunk = sock.recv(65536)
            if not chunk:
                raise compare.ClosedBeforeResponse("h2: closed")
            buf += chunk
        n = int.from_bytes(buf[:3], "big")
        ftype, flags, sid = buf[3], buf[4], int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF
        payload, buf = buf[9:9 + n], buf[9 + n:]
        if ftype == 4 and not flags & 1:
            sock.sendall(h2_frame(4, 1, 0))
        if ftype == 7:
            raise ConnectionError("h2: GOAWAY")
        if sid == stream and ftype == 1 and payload[:1] == b"\x88":
            status = 200
        if sid == stream and ftype in (0, 1) and flags & 1:
            if buf:
                raise ConnectionError("h2: more frames than expected")
            return status


class Client:
    """One request at a time on a keep-alive connection, HTTP/1.1 or h2c."""

    def __init__(self, h2: bool, port: int, path: str):
        self.h2, self.port, self.path = h2, port, path
        self.req = f"GET {path} HTTP/1.1\r\nHost: {compare.HOST}:{port}\r\n\r\n".encode()
        self.streams: dict[int, int] = {}

    def get(self, s: socket.socket, first: bool = False) -> int:
        if not self.h2:
            s.sendall(self.req)
            return compare._read_response(s)
        sid = self.streams.get(s.fileno(), -1) + 2
        self.streams[s.fileno()] = sid
        s.sendall((H2_PREFACE if first else b"") + h2_request(self.port, self.path, sid))
        return h2_read_response(s, sid)


def open_idle(port: int, client: Client, n: int, deadline_s: float) -> list[socket.socket]:
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
            if client.get(s, first=True) != 200:
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


def sample_requests(socks: list[socket.socket], client: Client, every: int) -> tuple[int, int]:
    ok = tried = 0
    for s in socks[::every]:
        tried += 1
        s.settimeout(5)
        try:
            if client.get(s) == 200:
                ok += 1
        except OSError:
            pass
    return ok, tried


def measure(target: compare.Target, path: str, n: int, h2: bool) -> dict:
    client = Client(h2, target.port, path)
    with socket.create_connection((compare.HOST, target.port), timeout=5) as s:
        for i in range(50):
            client.get(s, first=i == 0)
    time.sleep(1.0)
    before = target.rss()
    t0 = time.monotonic()
    socks = open_idle(target.port, client, n, deadline_s=300)
    opened = time.monotonic() - t0
    try:
        time.sleep(1.0)
        after = target.rss()
        alive = still_open(socks)
        ok, tried = sample_requests(socks, client, max(1, n // 1000))
    finally:
        for s in socks:
            s.close()
    return {"connections": n, "still_open": alive, "sample_ok": ok, "sample_tried": tried,
            "rss_before": before, "rss_after": after, "open_seconds": round(opened, 1),
            "bytes_per_connection": (after - before) / n}


class H2Gateway(compare.Gateway):
    def listen(self) -> str:
        return f'{{address: "{compare.HOST}:{self.port}", h2c: true}}'


class H2Nginx(compare.Nginx):
    def listen(self) -> str:
        return f"        listen {compare.HOST}:{self.port} reuseport http2;"

    def wait_ready(self, ready_path: str, log):
        # nginx 1.22 speaks only HTTP/2 on this port.
        def ready():
            try:
                with socket.create_connection((compare.HOST, self.port), timeout=1) as s:
                    return Client(True, self.port, ready_path).get(s, first=True) == 200
            except OSError:
                return False
        compare.wait_until(ready, 15, self.name, self.proc, log)


def run(n: int, args, bins: dict, log) -> dict:
    compare.Nginx.worker_connections = n + 1000
    procs = compare.Procs()
    tmp = Path(tempfile.mkdtemp(prefix="gw-idle-"))
    sc = {s.name: s for s in compare.scenarios(argparse.Namespace(size=None))}["proxy"]
    try:
        fleet = compare.Fleet(procs, bins["sample-service"], tmp, sc)
        gateway, nginx = (H2Gateway, H2Nginx) if args.h2 else (compare.Gateway, compare.Nginx)
        targets = [gateway(bins["gateway"], procs, tmp, args.workers, 64), nginx(procs, tmp, args.workers, 64)]
        res = {}
        for t in targets:
            t.start(sc, fleet.ports, compare.round_path(sc, f"{t.name}-ready"))
        for t in targets:
            log(f"{n} idle keep-alive {'h2c' if args.h2 else 'HTTP/1.1'} connections to {t.name}")
            res[t.name] = measure(t, compare.round_path(sc, "memory"), n, args.h2)
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
    ap.add_argument("--h2", action="store_true", help="HTTP/2 over cleartext (prior knowledge)")
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
