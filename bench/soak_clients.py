"""The soak's clients and the tally of what became of their requests
(bench/soak.py runs them; bench/soak_http.py is their HTTP client).

Each client is a thread that loops until `stop` is set: keep-alive clients,
pipelining clients, slow readers, uploaders that abort, a purger. Every
request is a Req with a User-Agent of its own (soak/N; aborted uploads
soak/abort/N), its bound (the time the gateway's timeouts allow it, see
bench/soak.py) and, once answered or not, one Tally.add.
"""
from __future__ import annotations

import collections
import itertools
import json
import random
import re
import threading
import time
from array import array

from soak_http import Conn, NoAnswer, Response, request_bytes

HOST = "127.0.0.1"
# The shipped defaults the bounds are made of (conf/gateway.yaml, README);
# bench/soak.py's generated config sets none of them.
UPSTREAM_CONNECT, UPSTREAM_READ, RETRIES, COMPOSE_TIMEOUT = 1.0, 30.0, 1, 2.0
PROXIED = (1 + RETRIES) * (UPSTREAM_CONNECT + UPSTREAM_READ)

# --------------------------------------------------------------------------
# Requests and what became of them.

_SEQ = itertools.count(1)


class Req:
    """One request: `kind` says what it asks for (and what a 2xx must look
    like), `what` the report row it counts in (its kind, or the client's
    name: "pipelined", "slow reader"), `bound` the seconds the gateway's
    timeouts allow it (without the slack)."""
    __slots__ = ("kind", "what", "method", "target", "agent", "wire", "size", "bound")

    def __init__(self, kind: str, method: str, target: str, body: bytes = b"", bound: float = 0.0, size: int = 0):
        self.kind = self.what = kind
        self.method, self.target, self.size, self.bound = method, target, size, bound
        self.agent = f"soak/{next(_SEQ)}"
        self.wire = request_bytes(method, target, self.agent, body)


def pick(rng: random.Random, keys: int) -> Req:
    """The keep-alive and pipelining clients' mix."""
    k = rng.randint(1, keys)
    r = rng.random()
    if r < 0.30:
        return Req("api cached", "GET", f"/api/channels/{k}", bound=PROXIED)
    if r < 0.40:
        return Req("api lone", "GET", f"/api/chat/{k}", bound=PROXIED)
    if r < 0.55:
        return Req("api uncached", "GET", f"/api/recommended/{k}", bound=PROXIED)
    if r < 0.70:
        return Req("page", "GET", f"/channels/{k}", bound=COMPOSE_TIMEOUT)
    if r < 0.85:
        return Req("aggregate", "GET", f"/api/summary/{k}", bound=COMPOSE_TIMEOUT)
    if r < 0.97:
        return Req("post", "POST", f"/api/channels/{k}", b"x" * 1024, bound=PROXIED, size=1024)
    return Req("post 256k", "POST", f"/api/channels/{k}", b"y" * 262144, bound=PROXIED, size=262144)


def body_ok(req: Req, resp: Response) -> bool:
    """What a 2xx must look like."""
    b = resp.body
    try:
        if req.kind == "page":
            return b.rstrip().endswith(b"</html>") and b"<!--#" not in b
        if req.kind == "purge":
            return b'"purged"' in b
        if req.kind == "big":
            return len(b) == req.size
        doc = json.loads(b)
        if req.kind == "aggregate":
            return "channel" in doc
        if req.kind.startswith("post"):
            return doc.get("body_bytes") == req.size
        return True
    except ValueError:
        return False


class Tally:
    """Counts per request class and outcome, latencies, and the requests
    to attribute (5xx, no answer, wrong answers), shared by the clients."""

    def __init__(self, slack: float):
        self.slack = slack
        self.lock = threading.Lock()
        self.outcomes: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        self.latency: dict[str, array] = collections.defaultdict(lambda: array("d"))
        self.over: list[dict] = []          # outlived their bound
        self.suspects: list[dict] = []      # 5xx, no answer, wrong answers: attributed at the end
        self.degraded: collections.Counter = collections.Counter()

    def add(self, req: Req, t0: float, t1: float, resp: Response | None = None, err: str | None = None,
            extra_bound: float = 0.0, leader: str | None = None):
        rec = {"what": req.what, "method": req.method, "target": req.target, "agent": req.agent,
               "t0": t0, "t1": t1, "bound": req.bound + extra_bound + self.slack}
        if leader:
            rec["leader"] = leader      # left unanswered with that earlier request of its pipeline
        if resp is None:
            outcome = f"no answer ({err})"
            rec["error"] = err
        else:
            outcome = f"{resp.status // 100}xx"
            rec.update(status=resp.status, instance=resp.headers.get("x-instance"),
                       forced=resp.headers.get("x-forced-failure"), body=resp.body[:300].decode("latin-1"))
            if resp.status < 300 and not body_ok(req, resp):
                outcome, rec["error"] = "wrong body", "wrong body"
            elif 400 <= resp.status < 500:
                rec["error"] = "unexpected 4xx"
        with self.lock:
            self.outcomes[req.what][outcome] += 1
            self.latency[req.what].append(t1 - t0)
            if err == "timeout" or t1 - t0 > rec["bound"]:
                self.over.append(rec)
            if resp is None or resp.status >= 400 or outcome == "wrong body":
                self.suspects.append(rec)
            if resp is not None and resp.status < 300:
                self.note_degraded(resp)

    def note_degraded(self, resp: Response):
        """200s that left something out: aggregate parts, page fragments."""
        for part in filter(None, (p.strip() for p in resp.headers.get("x-aggregate-missing", "").split(","))):
            self.degraded[f"aggregate part {part} missing"] += 1
        for m in re.finditer(r'desc="(/fragments/\w+)/\S* (ERROR|TIMEOUT)"', resp.trailers.get("server-timing", "")):
            self.degraded[f"page fragment {m.group(1)}/ {m.group(2).lower()}"] += 1

    def count(self, what: str, outcome: str):
        with self.lock:
            self.outcomes[what][outcome] += 1


# --------------------------------------------------------------------------
# Clients.

class Ctx:
    def __init__(self, args, port: int, admin_port: int, tally: Tally, stop: threading.Event):
        self.args, self.port, self.admin_port, self.tally, self.stop = args, port, admin_port, tally, stop
        self.slack = args.slack


def exchange(ctx: Ctx, conn: Conn | None, reqs: list[Req], port: int | None = None, **conn_kw) -> Conn | None:
    """Sends `reqs` in one write (a pipeline when there are several), reads
    the answers in order and records each. Returns the connection if it can
    carry more, else None (closed)."""
    t0 = time.monotonic()
    try:
        if conn is None:
            conn = Conn(HOST, port or ctx.port, **conn_kw)
        conn.send(b"".join(r.wire for r in reqs))
    except NoAnswer as e:
        for r in reqs:
            ctx.tally.add(r, t0, time.monotonic(), err=e.kind)
        if conn:
            conn.close()
        return None
    budget = 0.0
    for i, r in enumerate(reqs):
        budget += r.bound
        slept = conn.slept
        try:
            resp = conn.response(t0 + budget + conn.slept + ctx.slack, r.method == "HEAD")
        except NoAnswer as e:
            for rest in reqs[i:]:
                ctx.tally.add(rest, t0, time.monotonic(), err=e.kind, leader=None if rest is r else r.agent)
            conn.close()
            return None
        ctx.tally.add(r, t0, time.monotonic(), resp, extra_bound=budget - r.bound + conn.slept - slept)
        if resp.close:
            for rest in reqs[i + 1:]:
                ctx.tally.count(rest.what, "not sent: Connection: close before it")
            conn.close()
            return None
    return conn


def keepalive_client(ctx: Ctx, n: int):
    rng, conn = random.Random(n), None
    while not ctx.stop.is_set():
        conn = exchange(ctx, conn, [pick(rng, ctx.args.keys)])
    if conn:
        conn.close()


def pipelining_client(ctx: Ctx, n: int):
    rng, conn = random.Random(100 + n), None
    while not ctx.stop.is_set():
        reqs = [pick(rng, ctx.args.keys) for _ in range(rng.randint(2, 8))]
        for r in reqs:
            r.what = "pipelined"
        conn = exchange(ctx, conn, reqs)
    if conn:
        conn.close()


def slow_reader(ctx: Ctx, n: int):
    """1 MiB answers read 8 KiB per 20 ms through an 8 KiB receive buffer:
    cached (file, sendfile) and uncached (streamed from slow or flaky)."""
    rng = random.Random(200 + n)
    size = ctx.args.slow_size
    while not ctx.stop.is_set():
        k = rng.randint(1, 20)
        path = f"/api/channels/big{k}?size={size}" if rng.random() < 0.5 else f"/api/recommended/{k}?size={size}"
        req = Req("big", "GET", path, bound=PROXIED, size=size)
        req.what = "slow reader"
        if conn := exchange(ctx, None, [req], rcvbuf=8192, pace=(8192, 0.02)):
            conn.close()


def aborting_uploader(ctx: Ctx, n: int):
    """Uploads that stop midway: the client closes (FIN or RST) after part
    of a declared or chunked body. No answer is expected."""
    rng = random.Random(300 + n)
    variants = (("abort 32k at 16k", 32768, 16384), ("abort 1m at 256k", 1 << 20, 262144),
                ("abort chunked", None, 16384), ("abort head only", 4096, 0))
    while not ctx.stop.is_set():
        name, declared, sent = rng.choice(variants)
        k = rng.randint(1, ctx.args.keys)
        framing = "Transfer-Encoding: chunked\r\n" if declared is None else f"Content-Length: {declared}\r\n"
        agent = f"soak/abort/{next(_SEQ)}"
        head = f"POST /api/channels/{k} HTTP/1.1\r\nHost: soak.test\r\nUser-Agent: {agent}\r\n{framing}\r\n"
        body = b"z" * sent
        if declared is None:
            body = b"".join(b"%x\r\n%s\r\n" % (4096, b"z" * 4096) for _ in range(sent // 4096))
        try:
            conn = Conn(HOST, ctx.port, linger_rst=rng.random() < 0.5)
            conn.send(head.encode() + body)
            time.sleep(rng.choice((0.0, 0.01, 0.05)))
            conn.close()
            ctx.tally.count(name, "aborted by the client")
        except NoAnswer as e:
            ctx.tally.count(name, f"gateway closed first ({e.kind})")
        ctx.stop.wait(0.02)


def purger(ctx: Ctx, n: int):
    rng = random.Random(400 + n)
    while not ctx.stop.wait(rng.uniform(0.5, 1.5)):
        k = rng.randint(1, ctx.args.keys)
        query = rng.choice((f"url=/api/channels/{k}", f"url=http://soak.test/api/channels/{k}",
                            "prefix=/fragments/", "prefix=/api/channels/", "tag=none"))
        req = Req("purge", "POST", f"/purge?{query}", bound=0.0)
        if conn := exchange(ctx, None, [req], port=ctx.admin_port):
            conn.close()


