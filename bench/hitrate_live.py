"""The live side of the hit-rate bench: replay a bound trace through a target
(the gateway or nginx) in order, count its cache hits, watch its disk.

  replay()       one keep-alive connection, requests pipelined `depth` deep,
                 so the target sees exactly the trace's order (one connection
                 is served in order by both); each response's cache header
                 (X-Cache: HIT, X-Cache-Status: HIT) counts a hit. For nginx
                 it pauses while the cache directory is past its allowance
                 (nginx evicts only when its cache manager wakes); for the
                 gateway it repairs fills refused for the deletion backlog.
  DiskSampler    a child process that walks the cache directory every
                 `interval` seconds and keeps the peak of its files in 4 KiB
                 blocks (disk_bound.zone_usage: entries, and the gateway's
                 tmp/ of fills in flight); a process of its own so the walk
                 never stalls the replay (the GIL).
  zone_config()  the gateway's and nginx's cache configuration for one run.

Standard library only.
"""
from __future__ import annotations

import collections
import dataclasses
import multiprocessing
import socket
import threading
import time
from pathlib import Path
from typing import Optional

import compare as C
import disk_bound
import hitrate_trace as T

HOST = C.HOST


class ReplayError(RuntimeError):
    pass


@dataclasses.dataclass
class Replayed:
    requests: int = 0
    hits: int = 0
    hit_bytes: int = 0            # charged bytes of the hits
    bytes: int = 0                # charged bytes of all requests
    errors: int = 0               # non-200 answers
    refused: int = 0              # fills the gateway refused for its deletion backlog (Cache-Status)
    repairs_refused: int = 0      # repairs refused again (should be 0)
    seconds: float = 0.0
    paced_seconds: float = 0.0    # time paused for nginx's cache manager

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["object_hit_ratio"] = self.hits / self.requests if self.requests else 0.0
        d["byte_hit_ratio"] = self.hit_bytes / self.bytes if self.bytes else 0.0
        d["requests_per_second"] = self.requests / self.seconds if self.seconds else 0.0
        return d


def request_bytes(bound: T.Bound) -> list[bytes]:
    """The GET of each object, with the Host the keys were hashed with."""
    return [f"GET {t} HTTP/1.1\r\nHost: {T.HOST_HEADER}\r\n\r\n".encode() for t in bound.targets]


class _Connection:
    """One keep-alive connection's responses in order: (status, cache header
    value, Cache-Status value) of each, bodies skipped."""

    def __init__(self, port: int, header: str):
        self.sock = socket.create_connection((HOST, port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.tag = b"\r\n" + header.lower().encode() + b":"
        self.pending, self.skip = b"", 0

    def close(self):
        self.sock.close()

    def responses(self):
        """Yields the next parsed responses as they arrive (a list per read)."""
        data = self.sock.recv(1 << 18)
        if not data:
            raise ReplayError("connection closed by the target")
        if self.skip:
            if len(data) <= self.skip:
                self.skip -= len(data)
                return []
            data, self.skip = data[self.skip:], 0
        buf, pos, out = (self.pending + data if self.pending else data), 0, []
        self.pending = b""
        while pos < len(buf):
            end = buf.find(b"\r\n\r\n", pos)
            if end < 0:
                self.pending = buf[pos:]
                break
            out.append(_head_fields(buf[pos:end], self.tag))
            length = out[-1][1]
            body = end + 4
            if len(buf) - body >= length:
                pos = body + length
            else:
                self.skip = length - (len(buf) - body)
                break
        return out


def _head_fields(head: bytes, tag: bytes) -> tuple[int, int, bool, bool]:
    """(status, Content-Length, whether the cache header says HIT, whether
    Cache-Status says the gateway refused the fill for its disk backlog)."""
    low = head.lower()
    at = low.find(b"\r\ncontent-length:")
    if at < 0:
        raise ReplayError(f"response without Content-Length: {head[:200]!r}")
    end = low.find(b"\r\n", at + 2)
    length = int(low[at + 17:end if end > 0 else None])
    at = low.find(tag)
    hit = at >= 0 and low[at + len(tag):at + len(tag) + 8].strip().startswith(b"hit")
    return int(head[9:12]), length, hit, b"detail=disk-backlog" in low


def replay(port: int, bound: T.Bound, header: str, depth: int = 32, hold=None, drained=None,
           deadline: float = 3600.0, progress=None) -> Replayed:
    """Sends every request of the trace on one connection, in order, `depth`
    in flight. hold(stats): true while the replay must wait (nginx's disk
    past its allowance). drained(): true once the gateway's deletion backlog is
    empty; given, a fill the gateway refused for its backlog is repaired:
    once drained, the same URL is asked again (not counted), so the zone
    holds what the policy chose, as in the lab. Without it, refused fills
    are only counted."""
    reqs = request_bytes(bound)
    order, charged = bound.objects, bound.charged
    n = len(order)
    out = Replayed(requests=n)
    conn = _Connection(port, header)
    inflight: collections.deque[int] = collections.deque()   # object, or -1 - object for a repair
    repairs: list[int] = []
    t0 = time.monotonic()
    sent = done = 0
    next_report = 50_000
    try:
        while done < n:
            if repairs and not inflight:
                _wait(drained, t0 + deadline)
                inflight.extend(-1 - o for o in repairs)
                conn.sock.sendall(b"".join(reqs[o] for o in repairs))
                repairs = []
            elif not repairs and len(inflight) <= depth // 2 and sent < n:
                if hold and hold(out):
                    if not inflight:
                        out.paced_seconds += 0.05
                        time.sleep(0.05)
                        continue
                else:
                    upto = min(n, sent + depth - len(inflight))
                    conn.sock.sendall(b"".join(reqs[o] for o in order[sent:upto]))
                    inflight.extend(order[sent:upto])
                    sent = upto
            for status, _length, hit, refused in conn.responses():
                obj = inflight.popleft()
                if obj < 0:
                    out.repairs_refused += refused
                    continue
                size = charged[obj]
                out.bytes += size
                out.errors += status != 200
                if hit:
                    out.hits += 1
                    out.hit_bytes += size
                if refused:
                    out.refused += 1
                    if drained:
                        repairs.append(obj)
                done += 1
            elapsed = time.monotonic() - t0
            if elapsed > deadline:
                raise ReplayError(f"replay past its deadline ({deadline:.0f}s) after {done} of {n} requests")
            if progress and done >= next_report:
                progress(done, n, elapsed)
                next_report += 50_000
    finally:
        conn.close()
    out.seconds = time.monotonic() - t0
    return out


def _wait(pred, until: float):
    while pred and not pred():
        if time.monotonic() > until:
            raise ReplayError("the gateway's deletion backlog did not drain")
        time.sleep(0.002)


def _sample_loop(root: str, interval: float, stop, peaks):
    while True:
        entries, tmp, files = disk_bound.zone_usage(root)
        with peaks.get_lock():
            peaks[4] += 1
            peaks[5] = entries + tmp
            if entries + tmp > peaks[0]:
                peaks[0], peaks[3] = entries + tmp, tmp
            peaks[1] = max(peaks[1], entries)
            peaks[2] = max(peaks[2], files)
        if stop.wait(interval):
            return


class DiskSampler:
    """Peak bytes (4 KiB blocks) of a cache directory while it runs."""

    def __init__(self, root: Path, interval: float = 0.2):
        ctx = multiprocessing.get_context("fork")
        self.stop_event = ctx.Event()
        # peak total, peak entries, peak files, tmp at the peak total, samples, last total
        self.peaks = ctx.Array("q", 6)
        self.proc = ctx.Process(target=_sample_loop, args=(str(root), interval, self.stop_event, self.peaks),
                                daemon=True)

    def __enter__(self):
        self.proc.start()
        return self

    def __exit__(self, *exc):
        self.stop_event.set()
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5)

    def current(self) -> tuple[int, int]:
        """(the last walk's total in bytes, walks so far)."""
        with self.peaks.get_lock():
            return self.peaks[5], self.peaks[4]

    def hold(self, allowed: float):
        """A replay's hold(): true while the last walk's total plus the
        bytes of the misses since that walk are past `allowed`."""
        last = {"walks": -1, "missed": 0}

        def over(stats: Replayed) -> bool:
            total, walks = self.current()
            missed = stats.bytes - stats.hit_bytes
            if walks != last["walks"]:
                last["walks"], last["missed"] = walks, missed
            return total + missed - last["missed"] > allowed
        return over

    def result(self) -> dict:
        total, entries, files, tmp_at_peak, samples, _ = list(self.peaks)
        return {"peak_bytes": total, "peak_entry_bytes": entries, "peak_files": files,
                "tmp_at_peak": tmp_at_peak, "samples": samples}


# --------------------------------------------------------------------------
# One run's configuration, as compare.Scenario fragments.

@dataclasses.dataclass
class Config:
    """A configuration of the table: the gateway with a policy and an
    admission, or nginx with a min_uses."""
    name: str
    target: str                   # "gateway" | "nginx"
    policy: str = ""              # gateway: the zone's `policy:` (lab --policy)
    admission: str = ""           # gateway: the zone's `admission:` (lab --admission); "" = key absent
    min_uses: int = 1             # nginx: proxy_cache_min_uses

    def lab_args(self) -> tuple[str, str]:
        """(policy, admission) of the lab's model of this configuration:
        nginx evicts in LRU order and admits on the min_uses-th request."""
        if self.target == "nginx":
            return "lru", "none" if self.min_uses <= 1 else f"min_uses:{self.min_uses}"
        return self.policy, self.admission or "none"


# nginx's cache manager compares the zone with max_size when it wakes, and
# it sleeps as long as its least recently used entry has before turning
# inactive, at most 10 s: up to 10 s of fills past max_size. A second zone
# with inactive=2s whose one entry is asked for every 0.25 s (NginxTicker)
# keeps that sleep at 1-2 s, so the main zone is checked that often.
NGINX_TICK = "/hitrate-tick"


class NginxTicker(threading.Thread):
    def __init__(self, port: int):
        super().__init__(daemon=True)
        self.port, self.stop_event = port, threading.Event()

    def run(self):
        while not self.stop_event.wait(0.25):
            try:
                C.http_get(self.port, NGINX_TICK, 2.0)
            except OSError:
                pass

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop_event.set()
        self.join(5)


def zone_dir(tmp: Path, cfg: Config) -> Path:
    return tmp / f"zone-{cfg.target}"


def scenario(cfg: Config, max_size: int, tmp: Path, trace: Path | None = None) -> C.Scenario:
    """The gateway's and nginx's configurations for one run; `trace`: the
    gateway's zone also writes its request trace (cache/trace_format.hpp)
    there."""
    zone = zone_dir(tmp, cfg)
    admission = f", admission: \"{cfg.admission}\"" if cfg.admission else ""
    if trace:
        admission += f", trace: \"{trace}\""
    return C.Scenario(
        name=f"hitrate-{cfg.name}",
        description=f"trace replay, {cfg.name}, max_size {max_size}",
        path="/health",
        instances=2,
        fleet_args=["--default-cache-control", f"max-age={T.TTL}"],
        gateway_top=("admin: {listen: \"127.0.0.1:@ADMIN_PORT@\"}\n"
                     "caches:\n"
                     f"  main: {{path: \"{zone}\", max_size: {max_size}, memory: 0, "
                     f"policy: \"{cfg.policy}\"{admission}}}\n"),
        gateway_routes=("  - {prefix: /health, upstream: @UPSTREAM@}\n"
                        "  - {prefix: /, upstream: @UPSTREAM@, cache: {zone: main, ttl: 1d}}\n"),
        nginx_http=(f"    proxy_cache_path {zone} levels=1:2 keys_zone=main:64m max_size={max_size}\n"
                    "                     inactive=1d use_temp_path=off;\n"
                    f"    proxy_cache_path {zone}-tick keys_zone=tick:1m inactive=2s;\n"),
        nginx_locations=("        location = /health {\n"
                         "            proxy_pass http://@UPSTREAM@;\n"
                         "        }\n"
                         f"        location = {NGINX_TICK} {{\n"
                         "            proxy_pass http://@UPSTREAM@/health;\n"
                         "            proxy_cache tick;\n"
                         "        }\n"
                         "        location / {\n"
                         "            proxy_pass http://@UPSTREAM@;\n"
                         "            proxy_cache main;\n"
                         "            proxy_cache_valid 200 1d;\n"
                         f"            proxy_cache_min_uses {cfg.min_uses};\n"
                         "            proxy_cache_lock on;\n"
                         "            add_header X-Cache-Status $upstream_cache_status;\n"
                         "            add_header Via \"1.1 nginx\" always;\n"
                         "        }\n"),
    )
