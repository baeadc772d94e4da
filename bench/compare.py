#!/usr/bin/env python3
"""Gateway vs nginx on the same fleet, in the same run.

Starts a fleet of sample-service instances on free loopback ports, puts the
gateway and nginx in front of the SAME instances (same worker count, upstream
keep-alive, access logs off), runs wrk against each in turn (A B A B ...) and
prints medians (req/s, p50, p99, p99.9) and the ratios gateway/nginx, with
the requests that reached the fleet and each target's CPU time per request.
Then measures memory: RSS after the load, and bytes per idle keep-alive
client connection (`--idle-connections 10000` raises the fd limits).

    python3 bench/compare.py [--quick] [--scenario NAME ...] [--json FILE]

Scenarios: proxy, cache-hit-1k, cache-hit-100k, cold-cache, composed-page.
They are data (scenarios() below): a later benchmark (a bigger fleet) is one
more Scenario entry. Standard library only. See bench/README.md.
"""
from __future__ import annotations

import argparse
import contextlib
import ctypes
import dataclasses
import datetime
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Callable, Optional

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
CONF = BENCH / "conf"
HOST = "127.0.0.1"


# --------------------------------------------------------------------------
# Scenarios: what to configure on each target and how to load it.

@dataclasses.dataclass
class Scenario:
    """One benchmark, described as data.

    Fragments may use @TMP@ (the run's temp dir, e.g. for cache paths),
    @UPSTREAM@ (the name of the fleet's upstream group on both targets) and,
    in the gateway's, @ADMIN_PORT@ (a free port for `admin.listen`). `path`
    may use @ROUND@: replaced by a tag unique to each target and round
    ("gateway-r2", "nginx-warm", ...), so a query parameter salt=@ROUND@ gives
    every round URLs, and cache keys, of its own."""
    name: str
    description: str
    path: str                       # request target wrk asks for
    gateway_routes: str             # YAML list items under `routes:`
    nginx_locations: str            # location blocks inside `server {}`
    gateway_top: str = ""           # top-level YAML (e.g. `caches:`, `admin:`)
    nginx_http: str = ""            # http-level nginx config (e.g. proxy_cache_path)
    instances: int = 3              # fleet size
    fleet_args: list[str] = dataclasses.field(default_factory=list)  # extra sample-service flags
    wrk_threads: int = 2
    wrk_connections: int = 64
    wrk_args: list[str] = dataclasses.field(default_factory=list)    # e.g. ["-s", "script.lua"]
    wrk_script_args: list[str] = dataclasses.field(default_factory=list)  # after the URL: the script's init(args)
    keys: Optional[int] = None      # distinct URLs the load spreads over (report: fleet requests vs keys)
    # Called with the target and the round's path (@ROUND@ filled in) before
    # its warm-up and before each of its rounds, outside the measurement
    # (e.g. purge or prime a cache). target.fleet is the scenario's fleet.
    before_round: Optional[Callable[["Target", "Scenario", str], None]] = None
    # Files copied into the run's temp dir before the targets start (e.g. a
    # page template both read as @TMP@/NAME).
    files: list[Path] = dataclasses.field(default_factory=list)
    # Replaces the default pre-flight (200 and the body an instance gives):
    # called with the started targets, the fleet and the pre-flight path;
    # raises if a target's answer is wrong.
    preflight: Optional[Callable[[list["Target"], "Fleet", str], None]] = None
    # At most this many requests may reach the fleet in a round; a round
    # with more is INVALID (a cache scenario that stopped hitting).
    fleet_budget: Optional[int] = None


# before_round hooks.

def prime_cache(target: "Target", sc: Scenario, path: str, tries: int = 40):
    """GET path until the target says it answered from its cache."""
    seen = []
    for _ in range(tries):
        status, headers, _body = http_get_full(target.port, path)
        verdict = headers.get(target.cache_header, "-")
        seen.append(f"{status} {verdict}")
        if status == 200 and verdict.upper().startswith("HIT"):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{target.name}: GET {path} never became a cache hit "
                       f"({target.cache_header}: {', '.join(seen[:6])}...)")


def purge_gateway(target: "Target", sc: Scenario, path: str):
    """Empty the gateway's cache (admin POST /purge?prefix=/). nginx has no
    purge: the round's salt in every URL gives it a cold cache instead."""
    if target.name != "gateway":
        return
    req = urllib.request.Request(f"http://{HOST}:{target.admin_port}/purge?prefix=/",
                                 method="POST", data=b"")
    with urllib.request.urlopen(req, timeout=5) as r:
        body = json.loads(r.read())
    if "purged" not in body:
        raise RuntimeError(f"gateway purge: unexpected answer {body}")


def prime_page(target: "Target", sc: Scenario, path: str, tries: int = 40):
    """GET the page until two GETs in a row reach the fleet with nothing,
    i.e. every fragment is a cache hit (the page itself is not cached)."""
    quiet, seen = 0, []
    for _ in range(tries):
        before = target.fleet.stats()["requests"]
        status, _body = http_get(target.port, path)
        reached = target.fleet.stats()["requests"] - before
        seen.append(f"{status}/{reached}")
        quiet = quiet + 1 if status == 200 and reached == 0 else 0
        if quiet == 2:
            return
        time.sleep(0.05)
    raise RuntimeError(f"{target.name}: GET {path} never came without fleet requests "
                       f"(status/fleet requests: {', '.join(seen[:8])}...)")


_INCLUDE = re.compile(r'<!--#\s*include\s+virtual="([^"]+)"')


def _instance_neutral(body: bytes) -> bytes:
    """Fragments say which instance made them (data-instance="fleet-2")."""
    return re.sub(rb"fleet-\d+", b"fleet-N", body)


def check_page(template: Path):
    """Pre-flight of a composed page: both targets give 200 and the same
    assembled body modulo instance names, containing every fragment the
    template includes (as an instance serves it) and no include tag left."""
    def check(targets: list["Target"], fleet: "Fleet", path: str):
        fragments = {}
        for frag in _INCLUDE.findall(template.read_text()):
            status, body = http_get(fleet.ports[0], frag)
            if status != 200 or not body:
                raise RuntimeError(f"pre-flight: an instance gave {status} for {frag}")
            fragments[frag] = _instance_neutral(body)
        if not fragments:
            raise RuntimeError(f"pre-flight: no include in {template}")
        pages = {}
        for t in targets:
            status, body = http_get(t.port, path)
            page = _instance_neutral(body)
            missing = [f for f, b in fragments.items() if b not in page]
            if status != 200 or missing or b"<!--#" in page:
                raise RuntimeError(f"{t.name}: GET {path} gave {status}, {len(body)} bytes; "
                                   f"fragments missing: {missing or 'none'}; include tags left: "
                                   f"{page.count(b'<!--#')}")
            pages[t.name] = page
        first, *rest = pages.items()
        for name, page in rest:
            if page != first[1]:
                at = next((i for i, (a, b) in enumerate(zip(first[1], page)) if a != b),
                          min(len(first[1]), len(page)))
                raise RuntimeError(f"pre-flight: {first[0]} and {name} assemble different pages "
                                   f"({len(first[1])} vs {len(page)} bytes, first difference at "
                                   f"byte {at}: {first[1][at:at + 60]!r} vs {page[at:at + 60]!r})")
    return check


def _cache_scenario(name: str, size: int, nginx_sendfile: bool) -> Scenario:
    """Hits on one URL, primed before each round. Each round has its own URL
    (salt=@ROUND@) primed just before it, so a 60 s max-age cannot expire
    inside a 10 s round and the fleet should see no request at all.

    nginx gets whichever `sendfile` serves the size better (quick runs here,
    CPU per hit: 1 KiB 9.0 us off vs 13.8 us on, and half the req/s on;
    100 KiB 16.8 us on vs 25.6 us off; `tcp_nopush on` made 100 KiB hits 7x
    slower); the gateway decides by itself (RAM tier <= 64 KiB, else sendfile)."""
    return Scenario(
        name=name,
        description=f"cache hits, {size:,}-byte body: disk cache zone (gateway) vs "
                    f"proxy_cache + open_file_cache, sendfile {'on' if nginx_sendfile else 'off'} "
                    f"(nginx), primed before each round",
        path=f"/api/channels/1?size={size}&cache_control=max-age=60&salt=@ROUND@",
        gateway_top=(
            "caches:\n"
            f"  main: {{path: \"@TMP@/gateway-cache-{name}\", max_size: 1GiB, memory: 64MiB,\n"
            "         memory_entry_max: 64KiB, policy: s3fifo}\n"),
        gateway_routes=(
            "  - prefix: /\n"
            "    upstream: @UPSTREAM@\n"
            "    cache: {zone: main, ttl: 60s}\n"),
        nginx_http=NGINX_CACHE_HTTP.replace("@NAME@", name)
        + f"    sendfile {'on' if nginx_sendfile else 'off'};\n",
        nginx_locations=NGINX_CACHE_LOCATION,
        before_round=prime_cache,
    )


# nginx as the stronger peer: open_file_cache keeps cache files' descriptors
# open between hits (DESIGN.md: 1.36x on hits), like the gateway's open-file
# cache; proxy_cache_lock coalesces misses like the gateway's fill coalescing.
NGINX_CACHE_HTTP = (
    "    proxy_cache_path @TMP@/nginx-cache-@NAME@ levels=1:2 keys_zone=main:64m max_size=1g\n"
    "                     inactive=10m use_temp_path=off;\n"
    "    open_file_cache max=1000 inactive=20s;\n")
# add_header in a location drops the server's add_header: repeat Via.
NGINX_CACHE_LOCATION = (
    "        location / {\n"
    "            proxy_pass http://@UPSTREAM@;\n"
    "            proxy_cache main;\n"
    "            proxy_cache_valid 200 60s;\n"
    "            proxy_cache_lock on;\n"
    "            add_header X-Cache-Status $upstream_cache_status;\n"
    "            add_header Via \"1.1 nginx\" always;\n"
    "        }\n")


def _composed_page() -> Scenario:
    """A page of three cached fragments (bench/conf/composed-page.html, the
    same file for both): the gateway's page route against nginx's `ssi on`.

    The fragments are the fleet's /fragments/{channel,chat,recommended}/42,
    each on a route / location of its own with a cache (60 s: the fleet says
    max-age=60, the gateway's ttl and nginx's proxy_cache_valid say 60 s too),
    primed before each round. The page itself is not cached on either. The
    page URL and the include paths are fixed: nginx's SSI has no {id}
    parameters (the gateway's route still has one, /channels/{id}). So an
    entry primed before the first round expires during the run: both serve
    the stale copy while one request refetches it (gateway `use_stale:
    [updating]`, nginx `proxy_cache_use_stale updating`), which costs a few
    fleet requests and no stall on either (without it nginx's lock waiters
    poll every 500 ms). More than `fleet_budget` in a round: INVALID."""
    template = CONF / "composed-page.html"
    kinds = [m.split("/")[2] for m in _INCLUDE.findall(template.read_text())]
    gateway_routes = (
        "  - path: /channels/{id}\n"
        f"    page: {{template: \"@TMP@/{template.name}\"}}\n")
    nginx_locations = (
        # add_header here drops the server's Via: the gateway sends no Via on
        # a page it assembles itself, and says Cache-Control: no-store.
        "        location = /channels/42 {\n"
        "            ssi on;\n"
        "            default_type text/html;\n"
        "            charset utf-8;\n"
        "            add_header Cache-Control no-store;\n"
        f"            alias @TMP@/{template.name};\n"
        "        }\n")
    for kind in kinds:
        gateway_routes += (
            f"  - prefix: /fragments/{kind}/\n"
            "    upstream: @UPSTREAM@\n"
            "    cache: {zone: main, ttl: 60s, use_stale: [updating]}\n")
        nginx_locations += (
            f"        location /fragments/{kind}/ {{\n"
            "            proxy_pass http://@UPSTREAM@;\n"
            "            proxy_cache main;\n"
            "            proxy_cache_valid 200 60s;\n"
            "            proxy_cache_lock on;\n"
            "            proxy_cache_use_stale updating;\n"
            "            add_header X-Cache-Status $upstream_cache_status;\n"
            "            add_header Via \"1.1 nginx\" always;\n"
            "        }\n")
    return Scenario(
        name="composed-page",
        description=f"composed page: {len(kinds)} cached fragments ({', '.join(kinds)}) stitched "
                    f"by the gateway's page route vs nginx's ssi on + proxy_cache on the fragment "
                    f"locations, same template, fragments primed before each round",
        path="/channels/42",
        files=[template],
        gateway_top=(
            "caches:\n"
            "  main: {path: \"@TMP@/gateway-cache-composed-page\", max_size: 1GiB, memory: 64MiB,\n"
            "         memory_entry_max: 64KiB, policy: s3fifo}\n"),
        gateway_routes=gateway_routes,
        nginx_http=NGINX_CACHE_HTTP.replace("@NAME@", "composed-page") + "    sendfile off;\n",
        nginx_locations=nginx_locations,
        fleet_args=["--default-cache-control", "max-age=60"],
        before_round=prime_page,
        preflight=check_page(template),
        # An expiry per fragment per round, with a margin for the refetch
        # racing a few requests.
        fleet_budget=10 * len(kinds),
    )


def scenarios(args) -> list[Scenario]:
    size_q = f"?size={args.size}" if args.size is not None else ""
    return [
        Scenario(
            name="proxy",
            description="proxy path, no cache: round robin over the fleet, "
                        "upstream keep-alive",
            path=f"/api/channels/1{size_q}",
            gateway_routes=(
                "  - prefix: /\n"
                "    upstream: @UPSTREAM@\n"),
            nginx_locations=(
                "        location / {\n"
                "            proxy_pass http://@UPSTREAM@;\n"
                "        }\n"),
        ),
        _cache_scenario("cache-hit-1k", 1024, nginx_sendfile=False),
        _cache_scenario("cache-hit-100k", 102400, nginx_sendfile=True),
        Scenario(
            name="cold-cache",
            description="cold cache under concurrency: 100 connections on 10 keys, 5 ms "
                        "upstream latency, cache emptied before each round (gateway: purge; "
                        "both: a new salt in every URL)",
            path="/api/channels/1?delay_ms=5&cache_control=max-age=60&salt=@ROUND@",
            gateway_top=(
                "admin: {listen: \"127.0.0.1:@ADMIN_PORT@\"}\n"
                "caches:\n"
                "  main: {path: \"@TMP@/gateway-cache-cold-cache\", max_size: 1GiB, memory: 64MiB,\n"
                "         memory_entry_max: 64KiB, policy: s3fifo}\n"),
            gateway_routes=(
                "  - prefix: /\n"
                "    upstream: @UPSTREAM@\n"
                "    cache: {zone: main, ttl: 60s}\n"),
            nginx_http=NGINX_CACHE_HTTP.replace("@NAME@", "cold-cache"),
            nginx_locations=NGINX_CACHE_LOCATION,
            wrk_connections=100,
            # /api/channels/1..10, same query: wrk's Lua state is per thread,
            # each thread goes round robin over the 10 paths.
            wrk_args=["-s", str(CONF / "keys.lua")],
            wrk_script_args=["10"],
            keys=10,
            before_round=purge_gateway,
        ),
        _composed_page(),
        # Later issues add entries here, e.g. "fleet-14" (instances=14).
    ]


# --------------------------------------------------------------------------
# Processes: every one we start is tracked and stopped at the end.

def _pdeathsig():
    """In the child: die with us even if we are killed without cleanup."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class Procs:
    def __init__(self):
        self.running: list[tuple[str, subprocess.Popen]] = []

    def start(self, name, argv, log_path, **kw) -> subprocess.Popen:
        log = open(log_path, "wb")
        try:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                 stderr=subprocess.STDOUT, preexec_fn=_pdeathsig, **kw)
        finally:
            log.close()
        self.running.append((name, p))
        return p

    def stop(self, p: subprocess.Popen, extra_pids=(), grace=5.0):
        """SIGTERM, wait, then SIGKILL the process and any extra PIDs
        (nginx workers) that are still there."""
        if p.poll() is None:
            try:
                p.send_signal(signal.SIGTERM)
                p.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=grace)
            except ProcessLookupError:
                pass
        for pid in extra_pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.running = [(n, q) for n, q in self.running if q is not p]

    def stop_all(self):
        for _, p in reversed(list(self.running)):
            extra = children_of(p.pid) if p.poll() is None else []
            self.stop(p, extra)


def children_of(pid: int) -> list[int]:
    kids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # comm may contain spaces or ')': the fields after the last ')' are fixed.
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            kids.append(int(entry))
    return kids


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


_CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_times(pids) -> dict[int, tuple[float, float]]:
    """(user, kernel) CPU seconds of each process (all its threads); a
    process that is gone is left out."""
    out = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[pid] = (int(fields[11]) / _CLK_TCK, int(fields[12]) / _CLK_TCK)   # utime, stime: fields 14, 15
    return out


def cpu_seconds(pids) -> dict[int, float]:
    """utime + stime of each process, in seconds (cpu_times summed)."""
    return {pid: user + kernel for pid, (user, kernel) in cpu_times(pids).items()}


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two cpu_seconds() readings (a process born
    in between counts in full; one that died is lost, e.g. nginx's cache loader)."""
    return sum(t - before.get(pid, 0.0) for pid, t in after.items())


def raise_fd_limit(want: int) -> int:
    """Raises this process's open-file limit (inherited by every process it
    starts) to `want`: the soft limit up to the hard one, and the hard one
    too where allowed (root, up to fs.nr_open; what `prlimit` does).
    Returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if want > hard:
        try:
            nr_open = int(Path("/proc/sys/fs/nr_open").read_text())
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, nr_open), min(want, nr_open)))
            return min(want, nr_open)
        except (OSError, ValueError):
            pass        # not root, or no CAP_SYS_RESOURCE (a container's bounding set)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, want)), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_until(pred, timeout, what, proc=None, log=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = Path(log).read_text(errors="replace")[-2000:] if log else ""
            raise RuntimeError(f"{what}: exited with {proc.returncode}\n{tail}")
        try:
            if pred():
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{what}: not ready after {timeout}s")


def http_get_full(port: int, path: str, timeout=5.0) -> tuple[int, dict[str, str], bytes]:
    """Status, headers (names as sent; lookups are case-insensitive) and body."""
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}{path}", timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def http_get(port: int, path: str, timeout=5.0) -> tuple[int, bytes]:
    status, _, body = http_get_full(port, path, timeout)
    return status, body


def unwind_on_signals():
    """SIGTERM/SIGHUP unwind like Ctrl-C, so that `finally` stops every
    process the run started."""
    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)


def clean_up(procs: Procs, tmp: Path):
    """Stops every process the run started and removes its files; a second
    Ctrl-C must not cut this short."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    procs.stop_all()
    shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------
# The fleet and the targets.

class Fleet:
    def __init__(self, procs: Procs, binary: Path, tmp: Path, scenario: Scenario):
        self.procs, self.ports, self.pids = procs, [], []
        for i in range(scenario.instances):
            port_file, log = tmp / f"fleet-{i}.port", tmp / f"fleet-{i}.log"
            port_file.unlink(missing_ok=True)   # an earlier fleet's
            p = procs.start(f"fleet-{i}", [str(binary), "--port", "0", "--port-file", str(port_file),
                                           "--name", f"fleet-{i}", "--threads", "1",
                                           *scenario.fleet_args], log)
            wait_until(lambda: port_file.exists() and port_file.read_text().strip(), 10,
                       f"sample-service fleet-{i}", p, log)
            self.ports.append(int(port_file.read_text().strip()))
            self.pids.append(p)

    def stats(self) -> dict:
        """Requests and connections the fleet served, summed over instances
        (our own /stats connection is not counted)."""
        total = {"requests": 0, "connections": 0}
        for port in self.ports:
            st = json.loads(http_get(port, "/stats")[1])
            total["requests"] += st["requests"]
            total["connections"] += st["connections"] - st.get("stats_requests", 0)
        return total

    def stop(self):
        for p in self.pids:
            self.procs.stop(p)


class Target:
    name = "?"
    cache_header = "?"              # response header that says HIT on a cache hit

    def __init__(self, procs: Procs, tmp: Path, workers: int, keepalive: int):
        self.procs, self.tmp, self.workers, self.keepalive = procs, tmp, workers, keepalive
        self.port = 0
        self.admin_port = 0
        self.proc: Optional[subprocess.Popen] = None
        self.env: Optional[dict] = None         # the process's environment (None: ours)
        self.fleet: Optional[Fleet] = None      # set by run_scenario, for before_round hooks

    def pids(self) -> list[int]:
        return [self.proc.pid] if self.proc else []

    def rss(self) -> int:
        return sum(rss_bytes(pid) for pid in self.pids())

    def start(self, scenario: Scenario, fleet_ports: list[int], ready_path: str):
        raise NotImplementedError

    def wait_ready(self, ready_path: str, log):
        wait_until(lambda: http_get(self.port, ready_path, 1.0)[0] == 200, 15,
                   self.name, self.proc, log)

    def stop(self):
        if self.proc:
            self.procs.stop(self.proc, [pid for pid in self.pids() if pid != self.proc.pid])
            self.proc = None


def fill(template: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        template = template.replace(f"@{key}@", value)
    left = re.findall(r"@[A-Z_]+@", template)
    if left:
        raise ValueError(f"unfilled placeholders: {sorted(set(left))}")
    return template


class Gateway(Target):
    name = "gateway"
    cache_header = "X-Cache"

    def __init__(self, binary: Path, *a):
        super().__init__(*a)
        self.binary = binary

    def listen(self) -> str:
        """The entries of `listen:` (bench/edge.py adds a TLS one)."""
        return f'"{HOST}:{self.port}"'

    def start(self, scenario, fleet_ports, ready_path):
        self.port, self.admin_port = free_port(), free_port()
        frag = {"TMP": str(self.tmp), "UPSTREAM": "fleet", "ADMIN_PORT": str(self.admin_port)}
        conf = fill((CONF / "gateway.yaml.in").read_text(), {
            "LISTEN": self.listen(), "WORKERS": str(self.workers),
            "KEEPALIVE": str(self.keepalive),
            "INSTANCES": ", ".join(f'"{HOST}:{p}"' for p in fleet_ports),
            "GATEWAY_TOP": fill(scenario.gateway_top, frag),
            "GATEWAY_ROUTES": fill(scenario.gateway_routes, frag).rstrip("\n"),
        })
        path, log = self.tmp / "gateway.yaml", self.tmp / "gateway.log"
        path.write_text(conf)
        check = subprocess.run([str(self.binary), "--check", "-c", str(path)],
                               capture_output=True, text=True, timeout=30)
        if check.returncode != 0:
            raise RuntimeError(f"gateway --check failed:\n{check.stdout}{check.stderr}")
        self.proc = self.procs.start("gateway", [str(self.binary), "-c", str(path)], log, env=self.env)
        self.wait_ready(ready_path, log)


class Nginx(Target):
    name = "nginx"
    cache_header = "X-Cache-Status"    # add_header X-Cache-Status $upstream_cache_status
    worker_connections = 4096      # run_memory raises it for the idle-connection test
    # More `listen` parameters; bench/scale.py sets " backlog=4096" (the
    # gateway listens with SOMAXCONN; nginx's default is 511).
    listen_options = ""

    def pids(self):
        if not self.proc:
            return []
        # master + workers (+ cache manager and loader with proxy_cache_path)
        return [self.proc.pid] + children_of(self.proc.pid)

    def workers_running(self) -> int:
        n = 0
        for pid in children_of(self.proc.pid):
            try:
                if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"nginx: worker process"):
                    n += 1
            except OSError:
                pass
        return n

    def listen(self) -> str:
        """The server's listen lines (bench/edge.py adds a TLS one)."""
        return f"        listen {HOST}:{self.port} reuseport{self.listen_options};"

    def start(self, scenario, fleet_ports, ready_path):
        self.port = free_port()
        frag = {"TMP": str(self.tmp), "UPSTREAM": "fleet"}
        conf = fill((CONF / "nginx.conf.in").read_text(), {
            "TMP": str(self.tmp), "NGINX_LISTEN": self.listen(), "WORKERS": str(self.workers),
            # The gateway's `keepalive` caps idle connections per instance
            # per worker; nginx's caps them per worker for the whole group.
            # Same cap per instance: keepalive x instances.
            "KEEPALIVE": str(self.keepalive * len(fleet_ports)),
            # As root, nginx would run its workers as `nobody`, who cannot
            # enter our 0700 temp dir.
            "USER": "user root;" if os.geteuid() == 0 else "",
            "NGINX_SERVERS": "\n".join(f"        server {HOST}:{p};" for p in fleet_ports),
            "WORKER_CONNECTIONS": str(self.worker_connections),
            "NGINX_HTTP": fill(scenario.nginx_http, frag),
            "NGINX_LOCATIONS": fill(scenario.nginx_locations, frag).rstrip("\n"),
        })
        # nginx.conf.in's worker_rlimit_nofile 16384 is room for the default
        # worker_connections; a bigger idle-connection test needs more.
        # Capped by our hard limit: nginx cannot go above it either.
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        nofile = max(16384, min(self.worker_connections + 2048, hard))
        conf = conf.replace("worker_rlimit_nofile 16384;", f"worker_rlimit_nofile {nofile};")
        path, log = self.tmp / "nginx.conf", self.tmp / "nginx.log"
        path.write_text(conf)
        base = ["nginx", "-p", str(self.tmp), "-e", str(self.tmp / "nginx-error.log"),
                "-c", str(path), "-g", "daemon off;"]
        check = subprocess.run(base[:-2] + ["-t"], capture_output=True, text=True, timeout=30)
        if check.returncode != 0:
            raise RuntimeError(f"nginx -t failed:\n{check.stdout}{check.stderr}")
        self.proc = self.procs.start("nginx", base, log, env=self.env)
        self.wait_ready(ready_path, log)
        wait_until(lambda: self.workers_running() == self.workers, 10, "nginx workers")


# --------------------------------------------------------------------------
# wrk.

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if not m:
        raise ValueError(f"wrk latency {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_wrk(out: str) -> dict:
    r = {"rps": None, "p50_ms": None, "p75_ms": None, "p90_ms": None, "p99_ms": None,
         "p999_ms": None, "p9999_ms": None, "max_ms": None, "requests": 0, "non_2xx_3xx": 0,
         "socket_errors": {"connect": 0, "read": 0, "write": 0, "timeout": 0}}
    if m := re.search(r"^Requests/sec:\s+([\d.]+)", out, re.M):
        r["rps"] = float(m.group(1))
    # Thread Stats: "    Latency   1.20ms  300.00us  10.00ms   90.00%" (avg, stdev, max)
    if m := re.search(r"^[ \t]+Latency[ \t]+(\S+)[ \t]+(\S+)[ \t]+(\S+)", out, re.M):
        r["max_ms"] = _ms(m.group(3))
    for pct in ("50", "75", "90", "99"):
        if m := re.search(rf"^\s+{pct}%\s+(\S+)", out, re.M):
            r[f"p{pct}_ms"] = _ms(m.group(1))
    # Printed by conf/p999.lua's done(): "p99.9 latency: 1234 us".
    for pct, key in (("99.9", "p999_ms"), ("99.99", "p9999_ms")):
        if m := re.search(rf"^p{re.escape(pct)} latency: (\d+) us$", out, re.M):
            r[key] = int(m.group(1)) / 1000.0
    if m := re.search(r"^\s+(\d+) requests in", out, re.M):
        r["requests"] = int(m.group(1))
    if m := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out):
        r["non_2xx_3xx"] = int(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        r["socket_errors"] = dict(zip(("connect", "read", "write", "timeout"), map(int, m.groups())))
    problems = []
    if r["rps"] is None or r["p99_ms"] is None or r["requests"] == 0:
        problems.append("wrk output not understood")
    if r["non_2xx_3xx"]:
        problems.append(f"{r['non_2xx_3xx']} non-2xx/3xx")
    if errs := {k: v for k, v in r["socket_errors"].items() if v}:
        problems.append("socket errors " + ", ".join(f"{k} {v}" for k, v in errs.items()))
    r["valid"] = not problems
    r["problems"] = problems
    return r


P999_LUA = CONF / "p999.lua"


def wrk_with_p999(wrk_args: list[str]) -> tuple[list[str], dict[str, str]]:
    """wrk takes one script: conf/p999.lua (prints p99.9 and p99.99), which
    loads the scenario's own `-s FILE`, if any, from $WRK_INNER_SCRIPT.
    Returns wrk's arguments and the environment to run it in."""
    args, inner = [], ""
    it = iter(wrk_args)
    for a in it:
        if a in ("-s", "--script"):
            inner = next(it)
        else:
            args.append(a)
    return ["-s", str(P999_LUA), *args], {**os.environ, "WRK_INNER_SCRIPT": inner}


def run_wrk(scenario: Scenario, port: int, duration: float, path: str,
            connections: Optional[int] = None, threads: Optional[int] = None) -> dict:
    wrk_args, env = wrk_with_p999(scenario.wrk_args)
    argv = ["wrk", f"-t{threads or scenario.wrk_threads}",
            f"-c{connections or scenario.wrk_connections}",
            f"-d{duration:g}s", "--latency", *wrk_args,
            f"http://{HOST}:{port}{path}", *scenario.wrk_script_args]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60, env=env)
    r = parse_wrk(out.stdout)
    if out.returncode != 0:
        r["valid"] = False
        r["problems"].append(f"wrk exited {out.returncode}: {out.stderr.strip()[:200]}")
    r["wrk_command"] = " ".join(argv)
    return r


# --------------------------------------------------------------------------
# Memory per idle keep-alive connection.

class ClosedBeforeResponse(ConnectionError):
    """The server closed the connection before sending any byte of a response
    (a keep-alive connection it let go: a client may send again)."""


def read_response_head(sock: socket.socket) -> tuple[int, bytes]:
    """Reads one response with a Content-Length body; its status and head."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            if not buf:
                raise ClosedBeforeResponse("closed before the response")
            raise ConnectionError("closed inside the response head")
        buf += chunk
    head, body = buf.split(b"\r\n\r\n", 1)
    status = int(head.split(b" ", 2)[1])
    m = re.search(rb"\r\ncontent-length:\s*(\d+)", head, re.I)
    if not m:
        raise ConnectionError(f"{status} without Content-Length")
    need = int(m.group(1)) - len(body)
    while need > 0:
        chunk = sock.recv(min(need, 65536))
        if not chunk:
            raise ConnectionError("closed inside the body")
        need -= len(chunk)
    return status, head


def _read_response(sock: socket.socket) -> int:
    return read_response_head(sock)[0]


# One client address has ~28k ephemeral ports (net.ipv4.ip_local_port_range):
# beyond this many connections they come from 127.0.0.1, .2, .3, ...
PER_SOURCE_IP = 20000
IP_BIND_ADDRESS_NO_PORT = 24     # linux/in.h: pick the port at connect(), by 4-tuple


def client_connection(port: int, i: int, n: int) -> socket.socket:
    """The i-th of n client connections to HOST:port; over PER_SOURCE_IP of
    them, spread over source addresses 127.0.0.1..k (loopback answers them
    all), each bound without a port so that the kernel picks it per 4-tuple."""
    if n <= PER_SOURCE_IP:
        return socket.create_connection((HOST, port), timeout=5)
    s = socket.socket()
    try:
        s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        s.bind((f"127.0.0.{1 + i // PER_SOURCE_IP}", 0))
        s.settimeout(5)
        s.connect((HOST, port))
    except OSError:
        s.close()
        raise
    return s


def idle_connection_memory(target: Target, path: str, n: int, settle: float = 1.0,
                           deadline_s: Optional[float] = None) -> dict:
    """Open n keep-alive connections, one request on each, leave them idle,
    and report the RSS growth per connection. Bounded by deadline_s
    (default: 120 s, or 4 ms per connection if more)."""
    deadline_s = deadline_s or max(120.0, n * 0.004)
    req = f"GET {path} HTTP/1.1\r\nHost: {HOST}:{target.port}\r\n\r\n".encode()
    # Warm up first (upstream pool, lazily allocated structures), on one connection.
    with socket.create_connection((HOST, target.port), timeout=5) as s:
        for _ in range(50):
            s.sendall(req)
            _read_response(s)
    time.sleep(settle)
    before = target.rss()
    socks: list[socket.socket] = []
    deadline = time.monotonic() + deadline_s
    try:
        for _ in range(n):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{target.name}: idle-connection test over {deadline_s}s")
            s = client_connection(target.port, len(socks), n)
            socks.append(s)
            s.sendall(req)
            if _read_response(s) != 200:
                raise RuntimeError(f"{target.name}: non-200 in the idle-connection test")
        time.sleep(settle)
        after = target.rss()
        # Still open? A socket the server closed reads as EOF without blocking.
        still_open = 0
        for s in socks:
            s.setblocking(False)
            try:
                if s.recv(1, socket.MSG_PEEK) == b"":
                    continue                 # EOF: the server closed it
            except BlockingIOError:
                pass                         # nothing to read: open and idle
            except OSError:
                continue                     # reset
            still_open += 1
    finally:
        for s in socks:
            s.close()
    return {"connections": n, "still_open": still_open, "rss_before": before,
            "rss_after": after, "bytes_per_connection": (after - before) / n}


# --------------------------------------------------------------------------
# Reporting.

def progress_log():
    """A log function for progress lines on stderr, stamped with the seconds
    since the run began."""
    t0 = time.monotonic()

    def log(msg):
        print(f"  {time.monotonic() - t0:6.1f}s {msg}", file=sys.stderr, flush=True)
    return log


def machine_info(build_dir: Path) -> dict:
    def cmd(argv):
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            return (p.stdout + p.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "?"
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    build_type, source = "?", str(ROOT)
    try:
        for line in (build_dir / "CMakeCache.txt").read_text().splitlines():
            if line.startswith("CMAKE_BUILD_TYPE:"):
                build_type = line.split("=", 1)[1] or "(none)"
            elif line.startswith("CMAKE_HOME_DIRECTORY:"):
                source = line.split("=", 1)[1]
    except OSError:
        pass
    commit = cmd(["git", "-C", source, "rev-parse", "--short", "HEAD"])
    if not re.fullmatch(r"[0-9a-f]{4,40}", commit):
        commit = "? (not a git tree)"
    elif cmd(["git", "-C", source, "status", "--porcelain", "--untracked-files=no"]) not in ("", "?"):
        commit += " + uncommitted changes"
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "nproc": os.cpu_count(), "cpu": cpu, "kernel": platform.release(),
        "nginx": cmd(["nginx", "-v"]), "wrk": cmd(["wrk", "-v"]),
        "python": platform.python_version(), "gateway_build": build_type,
        "gateway_commit": commit, "gateway_source": source,
    }


def summarize(values: list[float]) -> Optional[dict]:
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def fmt_stat(s: Optional[dict], fmt: str) -> str:
    if s is None:
        return "-"
    return f"{format(s['median'], fmt)} [{format(s['min'], fmt)}..{format(s['max'], fmt)}]"


def mib(n: float) -> str:
    return f"{n / 1048576:.1f} MiB"


def report(result: dict) -> str:
    out = []
    m, cfg = result["machine"], result["config"]
    out.append(f"machine: {m['nproc']} cores ({m['cpu']}), kernel {m['kernel']}, {m['nginx']}, "
               f"{m['wrk']}")
    out.append(f"date: {m['date']}; gateway: {m['gateway_build']} build of {m['gateway_source']} "
               f"at {m['gateway_commit']}")
    out.append(f"setup: {cfg['workers']} worker(s) each, upstream keep-alive {cfg['keepalive']} idle "
               f"per instance per worker (nginx: keepalive {cfg['keepalive']} x instances), "
               f"access logs off, {cfg['rounds']} rounds x {cfg['duration']:g}s per target, "
               f"alternating, warm-up {cfg['warmup']:g}s; wrk, fleet and both proxies share "
               f"{m['nproc']} cores")
    for sc in result["scenarios"]:
        out.append("")
        out.append(f"== {sc['name']}: {sc['description']}")
        extra = f" {sc['wrk_extra']}" if sc.get("wrk_extra") else ""
        out.append(f"   GET {sc['path']}  ({sc['instances']} sample-service instances, 1 thread each; "
                   f"wrk -t{sc['wrk_threads']} -c{sc['wrk_connections']}{extra})")
        out.append("   rounds, in the order run (fleet: requests that reached the instances and new "
                   "connections to them during the round; CPU: the target's user+system time):")
        out.append(f"     {'#':>2} {'target':<8} {'req/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'p99.9 ms':>8} "
                   f"{'max ms':>7} "
                   f"{'requests':>9} {'fleet req':>9} {'fleet conn':>10} {'CPU s':>6} {'CPU us/req':>10}  "
                   f"status")
        for r in sc["runs"]:
            status = "ok" if r["valid"] else "INVALID: " + "; ".join(r["problems"])
            cpu_req = r.get("cpu_us_per_req")
            out.append(f"     {r['round']:>2} {r['target']:<8} {r['rps'] or 0:>9,.0f} "
                       f"{r['p50_ms'] or 0:>7.2f} {r['p99_ms'] or 0:>7.2f} {r.get('p999_ms') or 0:>8.2f} "
                       f"{r.get('max_ms') or 0:>7.2f} "
                       f"{r['requests']:>9,} {r.get('fleet_requests', 0):>9,} "
                       f"{r.get('fleet_connections', '-'):>10} {r.get('cpu_s', 0):>6.2f} "
                       f"{'-' if cpu_req is None else format(cpu_req, '.2f'):>10}  {status}")
        out.append("   median [min..max] over valid rounds:")
        out.append(f"     {'target':<8} {'req/s':<28} {'p50 ms':<20} {'p99 ms':<20} {'p99.9 ms':<20} "
                   f"{'CPU us/req':<20} {'valid':<6} RSS after")
        for t, s in sc["summary"].items():
            out.append(f"     {t:<8} {fmt_stat(s['rps'], ',.0f'):<28} {fmt_stat(s['p50_ms'], '.2f'):<20} "
                       f"{fmt_stat(s['p99_ms'], '.2f'):<20} {fmt_stat(s.get('p999_ms'), '.2f'):<20} "
                       f"{fmt_stat(s.get('cpu_us_per_req'), '.2f'):<20} {s['valid']}/{s['rounds']:<4} "
                       f"{mib(s['rss_after'])}")
        fleet_line = []
        for t, s in sc["summary"].items():
            if s.get("fleet_requests") and s.get("requests"):
                fleet_line.append(f"{t} {fmt_stat(s['fleet_requests'], ',.0f')} of "
                                  f"{s['requests']['median']:,.0f}")
        if fleet_line:
            ideal = (f"; ideal: {sc['keys']} (one per key), no coalescing: up to "
                     f"{sc['wrk_connections']} (one per connection)" if sc.get("keys") else "")
            out.append(f"   requests that reached the fleet per round (median [min..max] of total "
                       f"median): {', '.join(fleet_line)}{ideal}")
            if sc.get("keys"):
                mx = [f"{t} {fmt_stat(s['max_ms'], '.1f')}" for t, s in sc["summary"].items()
                      if s.get("max_ms")]
                out.append(f"   max latency per round, ms (the cold start's waits show here, "
                           f"not in p99): {', '.join(mx)}")
        rt = sc.get("ratios")
        if rt:
            cpu = (f", CPU per request {rt['cpu_us_per_req']:.3f}x" if rt.get("cpu_us_per_req")
                   else "")
            p999 = f", p99.9 {rt['p999_ms']:.3f}x" if rt.get("p999_ms") else ""
            out.append(f"   gateway/nginx: req/s {rt['rps']:.3f}x (higher is better), "
                       f"p50 {rt['p50_ms']:.3f}x, p99 {rt['p99_ms']:.3f}x{p999}{cpu} (lower is better)")
            if rt.get("rps_paired"):
                out.append(f"   per-round pairs: req/s ratio {fmt_stat(rt['rps_paired'], '.3f')}, "
                           f"p99 ratio {fmt_stat(rt['p99_paired'], '.3f')}")
        else:
            out.append("   gateway/nginx: no ratio (a target has no valid round)")
    mem = result.get("memory")
    if mem:
        out.append("")
        out.append(f"== memory per idle keep-alive connection ({mem['connections']} connections, "
                   f"one request each, fresh processes, scenario {mem['scenario']})")
        for t, r in mem["targets"].items():
            out.append(f"     {t:<8} {r['bytes_per_connection']:>8,.0f} bytes/conn  "
                       f"(RSS {mib(r['rss_before'])} -> {mib(r['rss_after'])}, "
                       f"{r['still_open']}/{r['connections']} still open)")
        if mem.get("ratio") is not None:
            out.append(f"   gateway/nginx: {mem['ratio']:.2f}x (lower is better; user-space RSS only, "
                       f"kernel socket buffers not included)")
    return "\n".join(out)


# --------------------------------------------------------------------------
# The run.

def round_path(sc: Scenario, tag: str) -> str:
    return sc.path.replace("@ROUND@", tag)


@contextlib.contextmanager
def started(sc: Scenario, args, procs: Procs, tmp: Path, bins: dict, log, env=None):
    """The scenario's fleet, then the gateway and nginx in front of it,
    checked by the pre-flight; yields (fleet, targets) and stops them all.
    `env(target_name)`: that target's environment (e.g. LD_PRELOAD);
    default ours.
    bench/syscalls.py, scale.py and flame.py use it: the same configs."""
    fleet = Fleet(procs, bins["sample-service"], tmp, sc)
    targets: list[Target] = [Gateway(bins["gateway"], procs, tmp, args.workers, args.keepalive),
                             Nginx(procs, tmp, args.workers, args.keepalive)]
    try:
        for f in sc.files:
            shutil.copyfile(f, tmp / f.name)
        for t in targets:
            t.fleet, t.env = fleet, env(t.name) if env else None
            t.start(sc, fleet.ports, round_path(sc, f"{t.name}-ready"))
            log(f"[{sc.name}] {t.name} on port {t.port}")
        pre = round_path(sc, "preflight")
        if sc.preflight:
            sc.preflight(targets, fleet, pre)
        else:
            # Pre-flight: both return 200 and the same body the instances give.
            direct = http_get(fleet.ports[0], pre)
            for t in targets:
                status, body = http_get(t.port, pre)
                if status != 200 or len(body) != len(direct[1]):
                    raise RuntimeError(f"{t.name}: GET {pre} gave {status}, {len(body)} bytes "
                                       f"(an instance gives {direct[0]}, {len(direct[1])} bytes)")
        yield fleet, targets
    finally:
        for t in targets:
            t.stop()
        fleet.stop()


def run_scenario(sc: Scenario, args, procs: Procs, tmp: Path, bins: dict, log) -> dict:
    with started(sc, args, procs, tmp, bins, log) as (fleet, targets):
        for t in targets:
            path = round_path(sc, f"{t.name}-warm")
            if sc.before_round:
                sc.before_round(t, sc, path)
            log(f"[{sc.name}] warm-up {t.name} {args.warmup:g}s")
            run_wrk(sc, t.port, args.warmup, path)
        runs = []
        for rnd in range(1, args.rounds + 1):
            for t in targets:
                path = round_path(sc, f"{t.name}-r{rnd}")
                if sc.before_round:
                    sc.before_round(t, sc, path)
                before, cpu_before = fleet.stats(), cpu_seconds(t.pids())
                r = run_wrk(sc, t.port, args.duration, path)
                cpu = cpu_delta(cpu_before, cpu_seconds(t.pids()))
                after = fleet.stats()
                r.update(round=rnd, target=t.name, path=path,
                         fleet_connections=after["connections"] - before["connections"],
                         fleet_requests=after["requests"] - before["requests"],
                         cpu_s=cpu,
                         cpu_us_per_req=cpu / r["requests"] * 1e6 if r["requests"] else None)
                if sc.fleet_budget is not None and r["fleet_requests"] > sc.fleet_budget:
                    r["valid"] = False
                    r["problems"].append(f"{r['fleet_requests']:,} requests reached the fleet "
                                         f"(budget {sc.fleet_budget})")
                runs.append(r)
                log(f"[{sc.name}] round {rnd} {t.name}: {r['rps'] or 0:,.0f} req/s, "
                    f"p50 {r['p50_ms'] or 0:.2f} ms, p99 {r['p99_ms'] or 0:.2f} ms, "
                    f"p99.9 {r['p999_ms'] or 0:.2f} ms, "
                    f"{r['requests']:,} requests, {r['fleet_requests']:,} reached the fleet, "
                    f"{r['fleet_connections']} new fleet conns, CPU {cpu:.2f} s"
                    + ("" if r["valid"] else "  INVALID: " + "; ".join(r["problems"])))
        summary = {}
        for t in targets:
            mine = [r for r in runs if r["target"] == t.name]
            ok = [r for r in mine if r["valid"]]
            summary[t.name] = {
                "rounds": len(mine), "valid": len(ok),
                "rps": summarize([r["rps"] for r in ok]),
                "p50_ms": summarize([r["p50_ms"] for r in ok]),
                "p99_ms": summarize([r["p99_ms"] for r in ok]),
                "p999_ms": summarize([r["p999_ms"] for r in ok if r.get("p999_ms") is not None]),
                "max_ms": summarize([r["max_ms"] for r in ok if r["max_ms"] is not None]),
                "fleet_requests": summarize([r["fleet_requests"] for r in ok]),
                "requests": summarize([r["requests"] for r in ok]),
                "cpu_us_per_req": summarize([r["cpu_us_per_req"] for r in ok
                                             if r["cpu_us_per_req"] is not None]),
                "rss_after": t.rss(),
            }
        ratios = None
        g, n = summary["gateway"], summary["nginx"]
        if g["rps"] and n["rps"]:
            ratios = {k: g[k]["median"] / n[k]["median"] for k in ("rps", "p50_ms", "p99_ms")}
            if g["p999_ms"] and n["p999_ms"] and n["p999_ms"]["median"]:
                ratios["p999_ms"] = g["p999_ms"]["median"] / n["p999_ms"]["median"]
            if g["cpu_us_per_req"] and n["cpu_us_per_req"] and n["cpu_us_per_req"]["median"]:
                ratios["cpu_us_per_req"] = (g["cpu_us_per_req"]["median"]
                                            / n["cpu_us_per_req"]["median"])
            pairs = [(a, b) for a, b in zip([r for r in runs if r["target"] == "gateway"],
                                            [r for r in runs if r["target"] == "nginx"])
                     if a["valid"] and b["valid"]]
            ratios["rps_paired"] = summarize([a["rps"] / b["rps"] for a, b in pairs])
            ratios["p99_paired"] = summarize([a["p99_ms"] / b["p99_ms"] for a, b in pairs])
        return {"name": sc.name, "description": sc.description, "path": sc.path,
                "instances": sc.instances, "wrk_threads": sc.wrk_threads,
                "wrk_connections": sc.wrk_connections, "keys": sc.keys,
                "wrk_extra": " ".join(sc.wrk_args + (["URL"] if sc.wrk_script_args else [])
                                      + sc.wrk_script_args),
                "runs": runs, "summary": summary, "ratios": ratios}


def run_memory(sc: Scenario, args, procs: Procs, tmp: Path, bins: dict, log) -> dict:
    fleet = Fleet(procs, bins["sample-service"], tmp, sc)
    targets: list[Target] = [Gateway(bins["gateway"], procs, tmp, args.workers, args.keepalive),
                             Nginx(procs, tmp, args.workers, args.keepalive)]
    # Every idle connection in one worker (SO_REUSEPORT may put them all
    # there), plus room for upstream ones (Nginx.start raises its
    # worker_rlimit_nofile to match).
    targets[1].worker_connections = max(Nginx.worker_connections, args.idle_connections + 1000)
    try:
        res = {}
        for t in targets:
            t.start(sc, fleet.ports, round_path(sc, f"{t.name}-ready"))
        for t in targets:
            log(f"[memory] {args.idle_connections} idle keep-alive connections to {t.name}")
            res[t.name] = idle_connection_memory(t, round_path(sc, "memory"), args.idle_connections)
        g, n = res["gateway"]["bytes_per_connection"], res["nginx"]["bytes_per_connection"]
        return {"scenario": sc.name, "connections": args.idle_connections, "targets": res,
                "ratio": g / n if n > 0 else None}
    finally:
        for t in targets:
            t.stop()
        fleet.stop()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", action="append",
                    help="scenario to run (repeatable; default: all). Known: "
                         + ", ".join(s.name for s in scenarios(argparse.Namespace(size=None))))
    ap.add_argument("--quick", action="store_true", help="2 rounds of 3 s, 1 s warm-up, 500 idle conns")
    ap.add_argument("--rounds", type=int, help="rounds per target (default 3; --quick 2)")
    ap.add_argument("--duration", type=float, help="seconds per round (default 10; --quick 3)")
    ap.add_argument("--warmup", type=float, help="warm-up seconds per target (default 3; --quick 1)")
    ap.add_argument("--workers", type=int, default=1,
                    help="gateway workers = nginx worker_processes (default 1: wrk and the "
                         "fleet need the other core)")
    ap.add_argument("--keepalive", type=int, default=64, help="idle upstream connections kept per instance per worker (default 64): "
                         "gateway `keepalive: N`, nginx `keepalive N x instances`")
    ap.add_argument("--size", type=int, help="response body bytes for the proxy scenario (sample-service ?size=N; "
                         "the cache scenarios fix theirs)")
    ap.add_argument("--idle-connections", type=int,
                    help="idle keep-alive connections for the memory test "
                         "(default 2000; --quick 500; 0 skips)")
    ap.add_argument("--build-dir", type=Path, default=ROOT / "build",
                    help="where gateway and sample-service are (default: build/)")
    ap.add_argument("--json", type=Path, help="also write the results as JSON to FILE")
    args = ap.parse_args(argv)
    # Explicit flags win over --quick.
    for key, full, quick in (("rounds", 3, 2), ("duration", 10.0, 3.0), ("warmup", 3.0, 1.0),
                             ("idle_connections", 2000, 500)):
        if getattr(args, key) is None:
            setattr(args, key, quick if args.quick else full)

    bins = {b: args.build_dir / b for b in ("gateway", "sample-service")}
    for b, path in bins.items():
        if not os.access(path, os.X_OK):
            sys.exit(f"compare.py: {path} missing; build first: "
                     f"cmake -B build -S . && make -C build -j2 gateway sample-service")
    for tool in ("wrk", "nginx"):
        if not shutil.which(tool):
            sys.exit(f"compare.py: {tool} not found (apt-get install {tool})")
    all_sc = scenarios(args)
    known = {s.name: s for s in all_sc}
    chosen = all_sc if not args.scenario else []
    for name in args.scenario or []:
        if name not in known:
            sys.exit(f"compare.py: unknown scenario {name!r}; known: {', '.join(known)}")
        chosen.append(known[name])

    want = raise_fd_limit(args.idle_connections + 4096)
    if args.idle_connections + 1000 > want:
        sys.exit(f"compare.py: --idle-connections {args.idle_connections} needs more room "
                 f"(open-file limit {want}: the hard limit could not be raised, which needs "
                 f"CAP_SYS_RESOURCE; the gateway is one process, so it needs them all)")

    unwind_on_signals()
    log = progress_log()

    procs = Procs()
    tmp = Path(tempfile.mkdtemp(prefix="gw-bench-"))
    result = {"machine": machine_info(args.build_dir),
              "command": " ".join(["python3", "bench/compare.py", *(argv if argv is not None else sys.argv[1:])]),
              "config": {"workers": args.workers, "keepalive": args.keepalive, "rounds": args.rounds,
                         "duration": args.duration, "warmup": args.warmup, "size": args.size},
              "scenarios": []}
    try:
        for sc in chosen:
            result["scenarios"].append(run_scenario(sc, args, procs, tmp, bins, log))
        if args.idle_connections > 0:
            # Always on the proxy path: the cost of a connection, not of a scenario.
            result["memory"] = run_memory(known["proxy"], args, procs, tmp, bins, log)
    except KeyboardInterrupt:
        print("compare.py: interrupted; stopping everything", file=sys.stderr)
        return 130
    finally:
        clean_up(procs, tmp)

    print(f"$ {result['command']}")
    print(report(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    bad = any(s["summary"][t]["valid"] == 0 for s in result["scenarios"] for t in s["summary"])
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
