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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchkit import BENCH, CONF, HOST, ROOT  # noqa: F401,E402
from benchkit.procs import (  # noqa: F401,E402
    Procs, _CLK_TCK, _pdeathsig, children_of, clean_up, cpu_delta, cpu_seconds, cpu_times,
    free_port, http_get, http_get_full, raise_fd_limit, rss_bytes, unwind_on_signals, wait_quiet, wait_until)
from benchkit.targets import (  # noqa: F401,E402
    Fleet, Gateway, Nginx, Target, fill)
from benchkit.wrk import (  # noqa: F401,E402
    P999_LUA, _UNITS, _ms, parse_wrk, run_wrk, wrk_with_p999)
from benchkit.idle import (  # noqa: F401,E402
    ClosedBeforeResponse, IP_BIND_ADDRESS_NO_PORT, PER_SOURCE_IP, _read_response, client_connection,
    idle_connection_memory, read_response_head)
from benchkit.info import (  # noqa: F401,E402
    fmt_stat, machine_info, mib, progress_log, summarize)
from benchkit.hooks import (  # noqa: F401,E402
    _INCLUDE, _instance_neutral, check_page, prime_cache, prime_page, purge_gateway)


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
# Reporting.

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
