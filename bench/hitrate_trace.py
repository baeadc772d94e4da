"""Traces for the hit-rate bench: generate, bind to URLs, read and write.

A trace here is the gateway's own trace format (cache/trace_format.hpp:
a 32-byte header, then 32-byte records), so `gateway-lab replay` reads
the very file the live replay sends. Binding makes the two agree exactly:

  - every distinct key of a trace becomes one object, numbered in the order
    of first appearance, served by sample-service at
        /api/channels/<n>?size=<body>      (Host: bench)
    with body = the record's charged size - BODY_SLACK, so that the entry
    file the gateway writes (its stored head, about 370 bytes here, plus the
    body) fills exactly size / 4 KiB blocks, as the lab charges it;
  - the record's key is rewritten to hash64 of the gateway's cache key of
    that URL (cache/policy_keys.cpp: "GET" US host US path?query), the hash
    admission and the zone's trace use, so a frequency sketch sees the same
    values in the lab and live.

The generator (`zipf`) is the stand-in for `gateway-lab synth zipf` with the
same parameters: Zipf(alpha) popularity over `objects` objects, log-normal
object sizes clipped to [1 KiB, 64 KiB], charged in 4 KiB blocks.
Standard library only.
"""
from __future__ import annotations

import dataclasses
import math
import random
import struct
from pathlib import Path

BLOCK = 4096
BODY_SLACK = 512              # charged size - body: room for the stored head (checked live: preflight)
HOST_HEADER = "bench"
TTL = 86400                   # the fleet's max-age: nothing expires during a run
MASK = (1 << 64) - 1
MAGIC = b"GWTRACE1"
SAMPLE_ALL = 1 << 24
STORABLE = 1
ROUTE_NAME = 0xFF
_HEADER = struct.Struct("<8sIIIIQ")
_RECORD = struct.Struct("<QQIIIHBB")


def fnv1a(data: bytes, h: int = 14695981039346656037) -> int:
    for c in data:
        h = ((h ^ c) * 1099511628211) & MASK
    return h


def mix64(x: int) -> int:
    x ^= x >> 30
    x = (x * 0xBF58476D1CE4E5B9) & MASK
    x ^= x >> 27
    x = (x * 0x94D049BB133111EB) & MASK
    return x ^ (x >> 31)


def hash64(data: bytes) -> int:
    """base/hash.hpp's hash64."""
    return mix64(fnv1a(data))


def url_key(host: str, target: str) -> bytes:
    """cache/policy_keys.cpp's key of a GET with no Vary, key headers or
    cookies, for a plain ASCII host and target whose query has at most one
    parameter (so `query: keep` and `query: sorted` agree)."""
    return b"\x1f".join([b"GET", host.lower().encode(), target.encode()])


@dataclasses.dataclass
class Trace:
    """Records as parallel lists; `objects` maps object number -> charged size."""
    keys: list[int]               # per request: object number (bound) or raw key
    sizes: list[int]              # per request: charged bytes
    ttl: int = TTL

    @property
    def requests(self) -> int:
        return len(self.keys)


@dataclasses.dataclass
class Bound:
    """A trace bound to URLs: per request the object number; per object its
    charged size, body size, request target and key hash."""
    objects: list[int]            # per request: object number
    charged: list[int]            # per object
    targets: list[str]            # per object: /api/channels/<n>?size=<body>
    hashes: list[int]             # per object: hash64 of the cache key

    @property
    def requests(self) -> int:
        return len(self.objects)

    def unique_bytes(self) -> int:
        return sum(self.charged)

    def body(self, obj: int) -> int:
        return self.charged[obj] - BODY_SLACK


def charged_size(size: int) -> int:
    return max(BLOCK, (size + BLOCK - 1) // BLOCK * BLOCK)


def zipf(requests: int, objects: int, alpha: float = 0.9, seed: int = 1,
         size_min: int = 1024, size_max: int = 64 * 1024) -> Trace:
    """Zipf(alpha) requests over `objects` objects; sizes log-normal with
    the median at the geometric mean of the bounds and 2 sigma to each bound,
    clipped, then charged in 4 KiB blocks."""
    rng = random.Random(seed)
    cum, total = [], 0.0
    for rank in range(1, objects + 1):
        total += rank ** -alpha
        cum.append(total)
    ranks = rng.choices(range(objects), cum_weights=cum, k=requests)
    mu = (math.log(size_min) + math.log(size_max)) / 2
    sigma = (math.log(size_max) - math.log(size_min)) / 4
    sizes = [charged_size(min(size_max, max(size_min, int(rng.lognormvariate(mu, sigma)))))
             for _ in range(objects)]
    # Popularity and the order of first appearance are unrelated to the id.
    perm = list(range(objects))
    rng.shuffle(perm)
    keys = [perm[r] for r in ranks]
    return Trace(keys=keys, sizes=[sizes[k] for k in keys])


def bind(trace: Trace) -> Bound:
    """Objects numbered by first appearance, each with its URL and key hash.
    A key seen with several sizes keeps its first."""
    number: dict[int, int] = {}
    objects, charged = [], []
    for key, size in zip(trace.keys, trace.sizes):
        n = number.get(key)
        if n is None:
            n = number[key] = len(charged)
            charged.append(size)
        objects.append(n)
    targets = [f"/api/channels/{n}?size={c - BODY_SLACK}" for n, c in enumerate(charged)]
    hashes = [hash64(url_key(HOST_HEADER, t)) for t in targets]
    return Bound(objects=objects, charged=charged, targets=targets, hashes=hashes)


def write(bound: Bound, path: Path, ttl: int = TTL, step_us: int = 1000, start_us: int = 1_700_000_000_000_000):
    """The bound trace in the gateway's trace format: one record per request,
    `step_us` apart, storable with `ttl`, the key hash of its URL."""
    out = bytearray(_HEADER.pack(MAGIC, 1, 32, SAMPLE_ALL, 0, start_us))
    route = b"/"   # route 0, named before its first use
    out += _RECORD.pack(start_us, 0, len(route), 0, 0, 0, ROUTE_NAME, 0) + route.ljust((len(route) + 31) // 32 * 32, b"\0")
    for i, obj in enumerate(bound.objects):
        size = bound.charged[obj]
        out += _RECORD.pack(start_us + i * step_us, bound.hashes[obj], size, size - BODY_SLACK, ttl, 0, 0, STORABLE)
    path.write_bytes(bytes(out))


def read(path: Path) -> Trace:
    """Requests of a trace file in the gateway's format (route-name records
    skipped); keys as the file has them."""
    data = path.read_bytes()
    if len(data) < 32:
        raise ValueError(f"{path}: shorter than a trace header")
    magic, version, record_size, sample, _, _ = _HEADER.unpack_from(data, 0)
    if magic != MAGIC or version != 1 or record_size != 32:
        raise ValueError(f"{path}: not a version-1 gateway trace")
    if sample != SAMPLE_ALL:
        raise ValueError(f"{path}: a sampled trace (sample {sample}/2^24) cannot be replayed live")
    keys, sizes = [], []
    at, ttl = 32, None
    while at + 32 <= len(data):
        _t, key, size, _body, rttl, _route, status, _flags = _RECORD.unpack_from(data, at)
        at += 32
        if status == ROUTE_NAME:
            at += (size + 31) // 32 * 32
            continue
        keys.append(key)
        sizes.append(charged_size(size))
        ttl = rttl if ttl is None else ttl
    return Trace(keys=keys, sizes=sizes, ttl=ttl or TTL)
