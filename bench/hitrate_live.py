"""The live side of the hit-rate bench: replay a bound trace through a target
(the gateway or nginx) in order, count its cache hits, watch its disk.

  replay()       one keep-alive connection, requests pipelined `depth` deep,
                 so the target sees exactly the trace's order (one connection
                 is served in order by both); each response's cache header
                 (X-Cache: HIT, X-Cache-Status: HIT) counts a hit. Optional
                 pacing: at most `fill_rate` non-hits per second, so that
                 nginx's cache manager (which deletes at most manager_files
                 files per manager_sleep) keeps up with the fills.
  DiskSampler    a child process that walks the cache directory every
                 `interval` seconds and keeps the peak of its files in 4 KiB
                 blocks (disk_bound.zone_usage: entries, and the gateway's
                 tmp/ of fills in flight); a process of its own so the walk
                 never stalls the replay (the GIL).
  zone_config()  the gateway's and nginx's cache configuration for one run.

Standard library only.
"""
from __future__ import annotations

import dataclasses
import multiprocessing
import socket
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
    seconds: float = 0.0
    paced_seconds: float = 0.0    # time spent waiting for the fill pace

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["object_hit_ratio"] = self.hits / self.requests if self.requests else 0.0
        d["byte_hit_ratio"] = self.hit_bytes / self.bytes if self.bytes else 0.0
        d["requests_per_second"] = self.requests / self.seconds if self.seconds else 0.0
        return d


def request_bytes(bound: T.Bound) -> list[bytes]:
    """The GET of each object, with the Host the keys were hashed with."""
    return [f"GET {t} HTTP/1.1\r\nHost: {T.HOST_HEADER}\r\n\r\n".encode() for t in bound.targets]


def _head_fields(head: bytes, header: bytes) -> tuple[int, int, bool]:
    """(status, Content-Length, whether `header` says HIT) of a response head."""
    status = int(head[9:12])
    low = head.lower()
    at = low.find(b"\r\ncontent-length:")
    if at < 0:
        raise ReplayError(f"response without Content-Length: {head[:200]!r}")
    end = low.find(b"\r\n", at + 2)
    length = int(low[at + 17:end if end > 0 else None])
    at = low.find(header)
    hit = at >= 0 and low[at + len(header):at + len(header) + 8].strip().startswith(b"hit")
    return status, length, hit


def replay(port: int, bound: T.Bound, header: str, depth: int = 32, fill_rate: Optional[float] = None,
           deadline: float = 3600.0, progress=None) -> Replayed:
    """Sends every request of the trace on one connection, in order."""
    reqs = request_bytes(bound)
    order, charged = bound.objects, bound.charged
    n = len(order)
    tag = b"\r\n" + header.lower().encode() + b":"
    out = Replayed(requests=n)
    sock = socket.create_connection((HOST, port), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    t0 = time.monotonic()
    sent = done = misses = skip = 0
    pending = b""
    try:
        while done < n:
            if sent - done <= depth // 2 and sent < n:
                upto = min(n, done + depth)
                sock.sendall(b"".join(reqs[order[i]] for i in range(sent, upto)))
                sent = upto
            data = sock.recv(1 << 18)
            if not data:
                raise ReplayError(f"connection closed after {done} of {n} responses")
            if skip:
                if len(data) <= skip:
                    skip -= len(data)
                    continue
                data, skip = data[skip:], 0
            buf, pos = (pending + data if pending else data), 0
            pending = b""
            while pos < len(buf):
                end = buf.find(b"\r\n\r\n", pos)
                if end < 0:
                    pending = buf[pos:]
                    break
                status, length, hit = _head_fields(buf[pos:end], tag)
                size = charged[order[done]]
                out.bytes += size
                if status != 200:
                    out.errors += 1
                if hit:
                    out.hits += 1
                    out.hit_bytes += size
                else:
                    misses += 1
                done += 1
                body = end + 4
                if len(buf) - body >= length:
                    pos = body + length
                else:
                    skip = length - (len(buf) - body)
                    break
            elapsed = time.monotonic() - t0
            if elapsed > deadline:
                raise ReplayError(f"replay past its deadline ({deadline:.0f}s) after {done} of {n} requests")
            if fill_rate and misses > fill_rate * elapsed:
                wait = misses / fill_rate - elapsed
                out.paced_seconds += wait
                time.sleep(wait)
            if progress and done and done % 50000 < depth:
                progress(done, n, elapsed)
    finally:
        sock.close()
    out.seconds = time.monotonic() - t0
    return out


def _sample_loop(root: str, interval: float, stop, peaks):
    while True:
        entries, tmp, files = disk_bound.zone_usage(root)
        with peaks.get_lock():
            peaks[4] += 1
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
        # peak total, peak entries, peak files, tmp at the peak total, samples
        self.peaks = ctx.Array("q", 5)
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

    def result(self) -> dict:
        total, entries, files, tmp_at_peak, samples = list(self.peaks)
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


def zone_dir(tmp: Path, cfg: Config) -> Path:
    return tmp / f"zone-{cfg.target}"


def scenario(cfg: Config, max_size: int, tmp: Path) -> C.Scenario:
    zone = zone_dir(tmp, cfg)
    admission = f", admission: \"{cfg.admission}\"" if cfg.admission else ""
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
                    "                     inactive=1d use_temp_path=off;\n"),
        nginx_locations=("        location = /health {\n"
                         "            proxy_pass http://@UPSTREAM@;\n"
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
