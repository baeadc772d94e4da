#!/usr/bin/env python3
"""Soak: one gateway, shipped defaults, a fleet that misbehaves, clients that do too.

    python3 bench/soak.py [--duration SECONDS | --quick] [--json FILE]

For 10 minutes (--duration; --quick: 60 s) one gateway with the shipped
defaults (nothing set but listeners, a cache zone in a temp dir and the
routes) serves a cached API route, an uncached one, a page with includes
(conf/pages/channel.html) and a JSON aggregate, in front of three
sample-service instances:
  killed  SIGKILLed every --kill-every s (20) and restarted on its port
          after --down-for s (3);
  slow    every answer --slow-ms (200 ms) late;
  flaky   every --fail-every-th request (25th) answered --fail-status (500),
          marked X-Forced-Failure.
Groups: channels = [killed, slow, flaky] (the cached API route, the page's
channel and player fragments, the aggregate's required part), chat =
[killed] (a lone instance: its outages are "every instance down"),
recommended = [slow, flaky].

Clients (threads, raw sockets, bench/soak_http.py): keep-alive clients
(GETs of every route, small and 256 KiB POSTs), a pipelining client (2 to 8
requests per write), slow readers (1 MiB answers through an 8 KiB receive
buffer, 8 KiB per 20 ms), an uploader that aborts (Content-Length or
chunked, closed midway by FIN or RST), and a purger on the admin listener.
Every request carries User-Agent soak/N, which finds it in the access log.

Reported: requests by outcome; latency against each request's bound; the
gateway's RSS and open files each minute; every 5xx, and every request left
without an answer, attributed as below; the gateway's retry, error and
panic counters. Exit status 1 if a must-be-0 figure is not 0.

ATTRIBUTION. What the gateway promises (README "Failures"): idempotent
requests move to another instance on a connect failure, a connection lost
before any response byte, or a 502/503 answer, up to `retries` (1) times;
an instance's own answer (500 included) is passed through; a lone instance
is never ejected. So each 5xx a client receives is exactly one of:
  instance  made by the flaky instance by design (X-Instance: flaky and
            X-Forced-Failure) and passed through;
  all-down  made by the gateway (no X-Instance) while every instance of the
            route's group was down at some moment of the request (the down
            intervals are the killer's: SIGKILL sent .. restarted instance
            listening, +-0.1 s);
  died      made by the gateway for a request it may not replay (POST, or a
            body already streamed upstream) after the request reached the
            killed instance and the instance died during the request
            (RFC 9110 9.2.2: it may have been applied). Not a connect
            failure: a request refused at connect reached nobody;
  composed  a page or aggregate whose required part failed for one of the
            reasons above (the part's failure, "status 500", is flaky's:
            the gateway makes no 500 of its own);
  NOT FORCED  anything else, e.g. a 502/503/504 made by the gateway while an
            instance of the group was up that the request could have used
            (a GET not retried, a POST refused at connect and not moved on,
            "no healthy instance" with an instance up), a 5xx from an
            instance that does not fail by design.
A request left without any answer (connection closed, reset or cut
mid-answer) is "died" when it was proxied through a group holding the
killed instance and that instance died during it (a body cut mid-way
cannot be retried: the head is out), else NOT FORCED. Aborted uploads are
closed by the client and have no outcome.

BOUNDS. A request outlives its timeouts when it takes longer than the
gateway's configured timeouts allow, plus --slack (3 s): proxied
(1 + retries) x (upstream_connect + upstream_read); page and aggregate their
2 s composition timeout; purge none (the admin answers at once); a slow
reader adds the time it slept; the i-th answer of a pipeline waits for the
ones before it. The shipped defaults make the proxied bound long (62 s):
it catches hangs; the p99 and max columns show the real latencies.

Must be 0: requests past their bound, 5xx NOT FORCED, requests without an
answer NOT FORCED, wrong answers (an unexpected 4xx, a 2xx whose body is
wrong, a purge that fails).

Standard library only. See bench/README.md, "Soak".
"""
from __future__ import annotations

import argparse
import collections
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from array import array
from pathlib import Path

sys.dont_write_bytecode = True        # no bench/__pycache__ from importing compare
sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare import (HOST, ROOT, Procs, clean_up, free_port, machine_info, progress_log,  # noqa: E402
                     rss_bytes, unwind_on_signals, wait_until)
from soak_clients import (PROXIED, Ctx, Tally, aborting_uploader, keepalive_client,  # noqa: E402
                          pipelining_client, purger, slow_reader)
from soak_http import Conn, NoAnswer, request_bytes  # noqa: E402

GROUPS = {"channels": ("killed", "slow", "flaky"), "chat": ("killed",), "recommended": ("slow", "flaky")}
# Route prefix -> group, for the proxied routes and the composed parts.
ROUTE_GROUPS = (("/api/channels/", "channels"), ("/api/chat/", "chat"), ("/api/recommended/", "recommended"),
                ("/fragments/channel/", "channels"), ("/fragments/player/", "channels"),
                ("/fragments/chat/", "chat"), ("/fragments/recommended/", "recommended"))
AGGREGATE_PARTS = {"channel": "/api/channels/", "chat": "/api/chat/", "recommended": "/api/recommended/"}

GATEWAY_YAML = """\
# Generated by bench/soak.py: the shipped defaults, but for the listeners,
# a cache zone in the run's temp dir and the routes the soak needs.
listen: ["{host}:{port}"]
admin: {{listen: "{host}:{admin_port}"}}
caches:
  main: {{path: "{tmp}/cache"}}
upstreams:
  channels: {{instances: ["{host}:{killed}", "{host}:{slow}", "{host}:{flaky}"]}}
  chat: {{instances: ["{host}:{killed}"]}}
  recommended: {{instances: ["{host}:{slow}", "{host}:{flaky}"]}}
routes:
  - {{prefix: /api/channels/, upstream: channels, cache: {{zone: main, ttl: 10s}}}}
  - {{prefix: /api/chat/, upstream: chat}}
  - {{prefix: /api/recommended/, upstream: recommended}}
  - path: /channels/{{id}}
    page: {{template: "{template}"}}
  - {{prefix: /fragments/channel/, upstream: channels, cache: {{zone: main, ttl: 10s}}}}
  - {{prefix: /fragments/player/, upstream: channels, cache: {{zone: main, ttl: 60s}}}}
  - {{prefix: /fragments/chat/, upstream: chat, cache: {{zone: main, ttl: 1s}}}}
  - {{prefix: /fragments/recommended/, upstream: recommended, cache: {{zone: main, ttl: 30s}}}}
  - path: /api/summary/{{id}}
    aggregate:
      channel: {{path: "/api/channels/{{id}}", required: true}}
      chat: "/api/chat/{{id}}"
      recommended: "/api/recommended/{{id}}"
"""


def group_of(path: str) -> str | None:
    return next((g for prefix, g in ROUTE_GROUPS if path.startswith(prefix)), None)


# --------------------------------------------------------------------------
# The fleet, and the killer.

class Fleet:
    def __init__(self, procs: Procs, binary: Path, tmp: Path, args):
        self.procs, self.binary, self.tmp = procs, binary, tmp
        self.extra = {"killed": [], "slow": ["--default-delay-ms", str(args.slow_ms)],
                      "flaky": ["--fail-every", str(args.fail_every), "--fail-status", str(args.fail_status)]}
        self.proc, self.ports = {}, {}
        self.down: list[list[float]] = []     # [SIGKILL sent, listening again (inf: not yet)]
        self.errors: list[str] = []
        for name in self.extra:
            self.proc[name] = self._start(name, 0)

    def _start(self, name: str, port: int):
        port_file, log = self.tmp / f"{name}.port", self.tmp / f"{name}.log"
        port_file.unlink(missing_ok=True)
        p = self.procs.start(name, [str(self.binary), "--port", str(port), "--port-file", str(port_file),
                                    "--name", name, *self.extra[name]], log)
        wait_until(lambda: port_file.exists() and port_file.read_text().strip(), 10, name, p, log)
        self.ports[name] = int(port_file.read_text())
        return p

    def kill_loop(self, stop: threading.Event, t0: float, until: float, every: float, down_for: float, log):
        """SIGKILL `killed` at t0 + every, t0 + 2 every, ... before `until`; start it again
        on its port `down_for` s later (the port file appears once it
        listens). Set `stop` only after the clients are done: the instances
        this thread starts die with it (PR_SET_PDEATHSIG is per thread)."""
        for k in itertools.count(1):
            if t0 + k * every >= until:
                stop.wait()                  # no more kills; stay, or the instance dies with us
                return
            if stop.wait(max(0.0, t0 + k * every - time.monotonic())):
                return
            self.down.append([time.monotonic(), float("inf")])
            p = self.proc["killed"]
            p.send_signal(signal.SIGKILL)
            p.wait()
            self.procs.stop(p)               # only forgets it: it is gone
            stop.wait(down_for)
            try:
                self.proc["killed"] = self._start("killed", self.ports["killed"])
            except RuntimeError as e:
                self.errors.append(f"restart {k}: {e}")
                log(f"killed: restart failed: {e}")
                return
            self.down[-1][1] = time.monotonic()

    def down_during(self, name: str, t0: float, t1: float, slack: float = 0.1) -> bool:
        if name != "killed":
            return False
        return any(a - slack <= t1 and t0 <= b + slack for a, b in self.down)

    def group_down(self, group: str, t0: float, t1: float) -> bool:
        return all(self.down_during(n, t0, t1) for n in GROUPS[group])

    def stats(self, name: str) -> dict:
        try:
            c = Conn(HOST, self.ports[name])
            c.send(request_bytes("GET", "/stats", "soak/stats"))
            body = c.response(time.monotonic() + 5).body
            c.close()
            return json.loads(body)
        except NoAnswer as e:
            return {"error": e.kind}
        except ValueError:
            return {"error": "not JSON"}


def start_gateway(procs: Procs, binary: Path, tmp: Path, fleet: Fleet) -> tuple[subprocess.Popen, int, int]:
    port, admin_port = free_port(), free_port()
    conf = GATEWAY_YAML.format(host=HOST, port=port, admin_port=admin_port, tmp=tmp,
                               template=ROOT / "conf/pages/channel.html", **fleet.ports)
    path, log = tmp / "gateway.yaml", tmp / "gateway.log"
    path.write_text(conf)
    check = subprocess.run([str(binary), "--check", "-c", str(path)], capture_output=True, text=True, timeout=30)
    if check.returncode != 0:
        raise RuntimeError(f"gateway --check failed:\n{check.stdout}{check.stderr}")
    proc = procs.start("gateway", [str(binary), "-c", str(path)], log)

    def listening():
        try:
            for p in (port, admin_port):
                Conn(HOST, p).close()
        except NoAnswer:
            return False
        return True
    wait_until(listening, 15, "gateway", proc, log)
    return proc, port, admin_port


# --------------------------------------------------------------------------
# Watching the gateway: RSS and open files, /metrics, its log.

class Sampler(threading.Thread):
    """VmRSS and the number of open descriptors of the gateway each second;
    every 5 s also the bytes its cache holds in RAM (gateway_cache_memory_bytes,
    up to the zone's `memory`), which RSS includes."""

    def __init__(self, pid: int, admin_port: int, stop: threading.Event):
        super().__init__(daemon=True)
        self.pid, self.admin_port, self.stop, self.samples = pid, admin_port, stop, []
        self.t0 = time.monotonic()
        self.take(True)

    def take(self, with_cache: bool):
        try:
            fds = len(os.listdir(f"/proc/{self.pid}/fd"))
            rss = rss_bytes(self.pid)
        except OSError:
            return
        ram = gateway_metrics(self.admin_port).get("totals", {}).get("cache_memory_bytes") if with_cache else None
        self.samples.append((time.monotonic() - self.t0, rss, fds, ram))

    def run(self):
        for n in itertools.count(1):
            if self.stop.wait(1.0):
                return
            self.take(n % 5 == 0)


UPSTREAM_METRICS = ("gateway_upstream_retries_total", "gateway_upstream_errors_total",
                    "gateway_upstream_panic_entries_total", "gateway_upstream_panic_requests_total",
                    "gateway_upstream_connections_opened_total", "gateway_upstream_connections_reused_total")


def gateway_metrics(admin_port: int) -> dict:
    """Per upstream: the UPSTREAM_METRICS; and a few totals."""
    try:
        c = Conn(HOST, admin_port)
        c.send(request_bytes("GET", "/metrics", "soak/metrics"))
        text = c.response(time.monotonic() + 10).body.decode()
        c.close()
    except NoAnswer as e:
        return {"error": e.kind}
    out: dict = {"upstreams": collections.defaultdict(dict), "totals": collections.Counter()}
    for line in text.splitlines():
        m = re.match(r"(\w+)(?:\{([^}]*)\})? (\S+)$", line)
        if not m:
            continue
        name, labels, value = m.group(1), m.group(2) or "", float(m.group(3))
        if name in UPSTREAM_METRICS and (u := re.search(r'upstream="([^"]+)"', labels)):
            out["upstreams"][u.group(1)][name.removeprefix("gateway_upstream_")] = int(value)
        elif name in ("gateway_cache_purged_total", "gateway_cache_stores_total", "gateway_cache_entries",
                      "gateway_cache_memory_bytes", "gateway_connections_active", "gateway_bad_requests_total"):
            out["totals"][name.removeprefix("gateway_")] += int(value)
    return out


ACCESS_LINE = re.compile(r'"(?:\S+) (?:\S+) HTTP/1\.[01]" (\d{3}) \d+ "[^"]*" "(soak/[\w/]+)" rt=\S+ route=\S+ '
                         r'upstream=\S+ instance=(\S+) urt=\S+ tries=(\d+)')
LOG_LINE = re.compile(r"^\S+Z \[(info|warn|error)\] (.*)$")


def read_gateway_log(path: Path, agents: set[str]) -> dict:
    """From the gateway's output (access log on stdout, error log on
    stderr): the access-log facts (instance tried last, tries) of the given
    agents; the statuses it logged for the aborted uploads; error-log lines
    by level, and by message with the numbers blanked."""
    out = {"access": {}, "aborted": collections.Counter(), "levels": collections.Counter(),
           "messages": collections.Counter()}
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith("2") and (m := LOG_LINE.match(line.rstrip("\n"))):
                out["levels"][m.group(1)] += 1
                if m.group(1) != "info":
                    out["messages"][f"[{m.group(1)}] " + re.sub(r"\d+", "N", m.group(2))[:160]] += 1
            elif '"soak/' in line and (m := ACCESS_LINE.search(line)):
                if m.group(2).startswith("soak/abort/"):
                    out["aborted"][m.group(1)] += 1
                elif m.group(2) in agents:
                    out["access"][m.group(2)] = {"status": int(m.group(1)), "instance": m.group(3),
                                                 "tries": int(m.group(4))}
    return out


# --------------------------------------------------------------------------
# Attribution (the rule is in the docstring at the top).

def instance_name(fleet: Fleet, address: str | None) -> str:
    if not address or address == "-":
        return "-"
    port = int(address.rsplit(":", 1)[1])
    return next((n for n, p in fleet.ports.items() if p == port), address)


def attribute_part(rec: dict, fleet: Fleet, fail_status: int) -> tuple[str, str] | None:
    """A page or aggregate that failed for its required part."""
    body = rec.get("body", "")
    if m := re.search(r"required fragment (\S+) failed \((.*)\)", body):
        path, reason = m.group(1), m.group(2)
    elif (m := re.search(r'required part (\w+) failed: ([^"]*)', body)) and m.group(1) in AGGREGATE_PARTS:
        path, reason = AGGREGATE_PARTS[m.group(1)], m.group(2)
    else:
        return None
    if reason == f"status {fail_status}":
        return "composed", f"required {path} got flaky's {fail_status}"
    group = group_of(path)
    if group and fleet.group_down(group, rec["t0"], rec["t1"]):
        return "composed", f"required {path}: every instance of {group} down"
    return "NOT FORCED", f"required {path} failed ({reason}) while {group} had an instance up"


def attribute(rec: dict, fleet: Fleet, access: dict, fail_status: int) -> tuple[str, str]:
    """(class, why) of a 5xx or of a request left without an answer."""
    t0, t1 = rec["t0"], rec["t1"]
    group = group_of(rec["target"].split("?")[0])
    killed_died = group is not None and "killed" in GROUPS[group] and fleet.down_during("killed", t0, t1)
    if "status" not in rec:
        if rec["error"] in ("truncated", "closed", "reset") and killed_died:
            return "died", f"{rec['error']}: {group} lost the killed instance during it"
        return "NOT FORCED", f"no answer ({rec['error']})"
    status = rec["status"]
    if rec.get("instance"):
        if rec["instance"] == "flaky" and rec.get("forced"):
            return "instance", f"flaky's own {status}, passed through"
        return "NOT FORCED", f"{status} from {rec['instance']}, which does not fail by design"
    if (part := attribute_part(rec, fleet, fail_status)) is not None:
        return part
    if group is None:
        return "NOT FORCED", f"{status} made by the gateway: {rec.get('body', '').strip()[:100]}"
    if fleet.group_down(group, t0, t1):
        return "all-down", f"every instance of {group} down"
    log = access.get(rec["agent"], {})
    tried = instance_name(fleet, log.get("instance"))
    what = rec.get("body", "").strip()
    sent = "connect" not in what and "no healthy" not in what
    if rec["method"] == "POST" and sent and killed_died and tried in ("killed", "-"):
        return "died", f"POST sent to the killed instance, which died with it ({what})"
    return "NOT FORCED", f"{what} (last tried {tried}, tries {log.get('tries', '?')}) while {group} had an instance up"


def attribute_all(tally: Tally, fleet: Fleet, access: dict, fail_status: int) -> dict:
    classes = {"5xx": collections.Counter(), "no answer": collections.Counter()}
    not_forced = {"5xx": [], "no answer": []}
    wrong, done = [], {}
    for rec in tally.suspects:
        if rec.get("error") in ("wrong body", "unexpected 4xx"):
            wrong.append(rec)
            continue
        if rec.get("error") == "timeout":
            continue                          # counted with the requests past their bound
        kind = "no answer" if "status" not in rec else "5xx"
        if "leader" in rec:
            cls, why = done.get(rec["leader"], ("NOT FORCED", "?"))
            why = "with an earlier request of its pipeline: " + why
        else:
            cls, why = attribute(rec, fleet, access, fail_status)
            done[rec["agent"]] = (cls, why)
        rec["class"], rec["why"] = cls, why
        classes[kind][cls] += 1
        if cls == "NOT FORCED":
            not_forced[kind].append(rec)
    return {"classes": classes, "not_forced": not_forced, "wrong": wrong}


# --------------------------------------------------------------------------
# Report.

def pct(values: array, q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] if s else 0.0


def outcome_rows(tally: Tally, slack: float) -> tuple[list[str], dict]:
    cols = ("2xx", "3xx", "4xx", "5xx", "no answer", "wrong body")
    lines = [f"  {'class':<14}{'requests':>10}" + "".join(f"{c:>11}" for c in cols)
             + f"{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"]
    table, total = {}, collections.Counter()
    for what in sorted(tally.latency, key=lambda w: -len(tally.latency[w])):
        oc, lat = tally.outcomes[what], tally.latency[what]
        row = {c: sum(n for o, n in oc.items() if o.startswith(c)) for c in cols}
        row.update(requests=len(lat), p50_ms=pct(lat, 0.5) * 1e3, p99_ms=pct(lat, 0.99) * 1e3,
                   max_ms=max(lat) * 1e3 if lat else 0.0)
        table[what] = row
        total.update({c: row[c] for c in (*cols, "requests")})
        lines.append(f"  {what:<14}{row['requests']:>10,}" + "".join(f"{row[c]:>11,}" for c in cols)
                     + f"{row['p50_ms']:>9.1f}{row['p99_ms']:>9.1f}{row['max_ms']:>9.0f}")
    lines.append(f"  {'all':<14}{total['requests']:>10,}" + "".join(f"{total[c]:>11,}" for c in cols))
    others = {w: dict(oc) for w, oc in tally.outcomes.items() if w not in tally.latency}
    for what, oc in sorted(others.items()):
        lines.append(f"  {what:<18} " + ", ".join(f"{o} {n:,}" for o, n in sorted(oc.items())))
    for what, oc in tally.outcomes.items():
        for o, n in oc.items():
            if o.startswith("not sent"):
                lines.append(f"  {what}: {o}: {n:,}")
    return lines, {"by_class": table, "other": others}


def minute_rows(samples: list, every: float) -> tuple[list[str], list[dict]]:
    """One row per `every` s (t=0: before the load): the last sample of the
    window and its maximum."""
    rows = []
    lines = [f"  {'t (s)':>7}{'RSS MiB':>10}{'max':>8}{'open files':>12}{'max':>6}{'cache RAM MiB':>15}"]
    windows = [samples[:1]] + [[s for s in samples if (i - 1) * every < s[0] <= i * every]
                               for i in range(1, int(samples[-1][0] // every) + 2)] if samples else []
    for window in filter(None, windows):
        ram = [s[3] for s in window if s[3] is not None]
        rows.append({"t": window[-1][0], "rss": window[-1][1], "rss_max": max(s[1] for s in window),
                     "fds": window[-1][2], "fds_max": max(s[2] for s in window),
                     "cache_ram": ram[-1] if ram else None})
    for r in rows:
        ram = f"{r['cache_ram'] / 2**20:>15.1f}" if r["cache_ram"] is not None else f"{'?':>15}"
        lines.append(f"  {r['t']:>7.0f}{r['rss'] / 2**20:>10.1f}{r['rss_max'] / 2**20:>8.1f}"
                     f"{r['fds']:>12}{r['fds_max']:>6}{ram}")
    if len(rows) >= 3:
        a, b = rows[1], rows[-1]
        lines.append(f"  after the first {every:.0f} s (warm-up) to the end: "
                     f"RSS {(b['rss'] - a['rss']) / 2**20:+.1f} MiB "
                     f"({(b['rss'] - a['rss']) / max(1, a['rss']):+.1%}), open files {b['fds'] - a['fds']:+d}")
    return lines, rows


def report(res: dict) -> str:
    out = [f"$ {res['command']}"]
    m = res["machine"]
    out.append(f"machine: {m['nproc']} cores ({m['cpu']}), kernel {m['kernel']}, python {m['python']}; "
               f"{m['date']}; gateway: {m['gateway_build']} build of {m['gateway_commit']}")
    c = res["config"]
    out.append(f"run: {res['seconds']:.0f} s, one gateway with the shipped defaults (workers auto); fleet: killed "
               f"(SIGKILL every {c['kill_every']:g} s, restarted {c['down_for']:g} s later: {res['kills']} kills), "
               f"slow (+{c['slow_ms']} ms), flaky (every {c['fail_every']}th answer is a {c['fail_status']})")
    out.append(f"clients: {c['clients']} keep-alive, {c['pipeliners']} pipelining (2-8 deep), {c['slow_readers']} slow "
               f"readers ({c['slow_size']:,} B, 8 KiB per 20 ms), {c['uploaders']} aborting uploader(s), "
               f"{c['purgers']} purger(s); {c['keys']} keys")
    out += ["", "requests by outcome (latency: request written to answer read, as the client saw it)"]
    out += res["outcome_lines"]
    for kind in ("5xx", "no answer"):
        out += ["", f"{kind} by attribution (see the top of bench/soak.py)"]
        for cls, n in sorted(res["attribution"][kind].items(), key=lambda kv: kv[0] == "NOT FORCED"):
            out.append(f"  {cls:<12}{n:>9,}" + ("   must be 0" if cls == "NOT FORCED" else ""))
        if not res["attribution"][kind]:
            out.append("  none")
    if res["degraded"]:
        out += ["", "200s with a part left out (informational)"]
        out += [f"  {k}: {n:,}" for k, n in sorted(res["degraded"].items())]
    fleet = [f"{n} {s['requests']:,} requests" if "requests" in s else f"{n} /stats: {s.get('error')}"
             for n, s in res["fleet"].items()]
    out += ["", "fleet (killed: since its last start): " + ", ".join(fleet)
            + f"; flaky answered {res['fleet'].get('flaky', {}).get('forced_failures', '?')} forced failures"]
    if res["fleet_errors"]:
        out.append("  fleet errors: " + "; ".join(res["fleet_errors"]))
    out.append("gateway upstream counters at the end:")
    for up, vals in sorted(res["metrics"].get("upstreams", {}).items()):
        out.append(f"  {up:<12}" + ", ".join(f"{k} {v:,}" for k, v in vals.items()))
    out.append("  " + ", ".join(f"{k} {v:,}" for k, v in res["metrics"].get("totals", {}).items()))
    out.append(f"gateway log: {dict(res['log_levels'])}; exit status after SIGTERM: {res['gateway_exit']}")
    out.append("  aborted uploads in its access log, by status: "
               + (", ".join(f"{k} {v:,}" for k, v in sorted(res["aborted_logged"].items())) or "none"))
    out += [f"  {n:>6,} x {msg}" for msg, n in res["log_messages"][:8]]
    out += ["", f"gateway RSS and open files every {c['sample_every']:g} s (t=0: before the load)"]
    out += res["minute_lines"]
    out += ["", "must be 0:"]
    for k, v in res["must_be_0"].items():
        out.append(f"  {k:<40}{v:>6}")
    for title, recs in res["failures"].items():
        if recs:
            out.append(f"  {title} (first {min(10, len(recs))} of {len(recs)}):")
            out += [f"    t={r['t0'] - res['t0']:.1f}s {r['method']} {r['target']} ({r['what']}) -> "
                    f"{r.get('status', r.get('error'))} in {r['t1'] - r['t0']:.2f}s (bound {r['bound']:.1f}s)"
                    f"{': ' + r['why'] if 'why' in r else ''}" for r in recs[:10]]
    out.append("OK" if not any(res["must_be_0"].values()) else "FAILED")
    return "\n".join(out)


# --------------------------------------------------------------------------
# The run.

def run(args, procs: Procs, tmp: Path, bins: dict, log) -> dict:
    fleet = Fleet(procs, bins["sample-service"], tmp, args)
    gw, port, admin_port = start_gateway(procs, bins["gateway"], tmp, fleet)
    log(f"temp dir {tmp}; gateway on {port} (admin {admin_port}), instances {fleet.ports}")
    stop, tally = threading.Event(), Tally(args.slack)
    ctx = Ctx(args, port, admin_port, tally, stop)
    sampler = Sampler(gw.pid, admin_port, stop)
    t_start = sampler.t0
    stop_killer = threading.Event()
    killer = threading.Thread(target=fleet.kill_loop, daemon=True,
                              args=(stop_killer, t_start, t_start + args.duration, args.kill_every, args.down_for, log))
    threads = []
    for fn, n in ((keepalive_client, args.clients), (pipelining_client, args.pipeliners),
                  (slow_reader, args.slow_readers), (aborting_uploader, args.uploaders), (purger, args.purgers)):
        threads += [threading.Thread(target=fn, args=(ctx, i), daemon=True) for i in range(n)]
    sampler.start()
    killer.start()
    for t in threads:
        t.start()
    end = t_start + args.duration
    while (left := end - time.monotonic()) > 0 and gw.poll() is None:
        stop.wait(min(left, args.sample_every))
        with tally.lock:
            done = sum(len(v) for v in tally.latency.values())
        s = sampler.samples[-1] if sampler.samples else (0, 0, 0)
        log(f"{done:,} requests, {len(fleet.down)} kills; gateway RSS {s[1] / 2**20:.1f} MiB, {s[2]} open files")
    stop.set()
    for t in threads:
        t.join(PROXIED + args.slack + 5)
    seconds = time.monotonic() - t_start
    crashed = gw.poll()
    metrics = gateway_metrics(admin_port) if crashed is None else {}
    fleet_stats = {n: fleet.stats(n) for n in fleet.ports}
    stop_killer.set()
    killer.join(30)
    procs.stop(gw, grace=15)
    glog = read_gateway_log(tmp / "gateway.log", {r["agent"] for r in tally.suspects})
    att = attribute_all(tally, fleet, glog["access"], args.fail_status)
    return {"t0": t_start, "seconds": seconds, "tally": tally, "att": att, "samples": sampler.samples,
            "kills": len(fleet.down), "down": [[a - t_start, b - t_start] for a, b in fleet.down],
            "fleet": fleet_stats, "fleet_errors": fleet.errors, "metrics": metrics,
            "crashed": crashed, "gateway_exit": gw.returncode, "aborted_logged": dict(glog["aborted"]),
            "log_levels": glog["levels"], "log_messages": glog["messages"].most_common(20)}


def assemble(args, argv, raw: dict, machine: dict) -> dict:
    tally, att = raw["tally"], raw["att"]
    outcome_lines, outcomes = outcome_rows(tally, args.slack)
    minute_lines, minutes = minute_rows(raw["samples"], args.sample_every)
    failures = {"past their bound": tally.over, "5xx not forced": att["not_forced"]["5xx"],
                "no answer, not forced": att["not_forced"]["no answer"], "wrong answers": att["wrong"]}
    must = {"requests past their bound": len(tally.over),
            "5xx not forced": len(att["not_forced"]["5xx"]),
            "requests without an answer, not forced": len(att["not_forced"]["no answer"]),
            "wrong answers": len(att["wrong"]),
            "gateway exits during the run": 0 if raw["crashed"] is None else 1}
    keys = ("kill_every", "down_for", "slow_ms", "fail_every", "fail_status", "clients", "pipeliners",
            "slow_readers", "uploaders", "purgers", "keys", "slow_size", "slack", "sample_every")
    return {"command": " ".join(["python3", "bench/soak.py", *argv]), "machine": machine,
            "config": {k: getattr(args, k) for k in keys} | {"duration": args.duration},
            "t0": raw["t0"], "seconds": raw["seconds"], "kills": raw["kills"], "down_intervals": raw["down"],
            "outcome_lines": outcome_lines, "outcomes": outcomes, "minute_lines": minute_lines,
            "minutes": minutes, "attribution": {k: dict(v) for k, v in att["classes"].items()},
            "degraded": dict(tally.degraded), "fleet": raw["fleet"], "fleet_errors": raw["fleet_errors"],
            "metrics": raw["metrics"], "log_levels": dict(raw["log_levels"]), "log_messages": raw["log_messages"],
            "aborted_logged": raw["aborted_logged"],
            "gateway_exit": raw["gateway_exit"], "must_be_0": must,
            "failures": {k: sorted(v, key=lambda r: r["t0"]) for k, v in failures.items()}}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, help="seconds of load (default 600; --quick 60)")
    ap.add_argument("--quick", action="store_true", help="60 s, samples every 10 s")
    ap.add_argument("--kill-every", type=float, default=20.0, help="SIGKILL the killed instance this often (20 s)")
    ap.add_argument("--down-for", type=float, default=3.0, help="... and restart it this much later (3 s)")
    ap.add_argument("--slow-ms", type=int, default=200, help="the slow instance's delay (200 ms)")
    ap.add_argument("--fail-every", type=int, default=25, help="the flaky instance fails every Nth request (25)")
    ap.add_argument("--fail-status", type=int, default=500, help="... with this status (500)")
    ap.add_argument("--clients", type=int, default=8, help="keep-alive clients (8)")
    ap.add_argument("--pipeliners", type=int, default=2, help="pipelining clients (2)")
    ap.add_argument("--slow-readers", type=int, default=2, help="slow readers (2)")
    ap.add_argument("--uploaders", type=int, default=1, help="clients that abort uploads (1)")
    ap.add_argument("--purgers", type=int, default=1, help="clients that purge on the admin listener (1)")
    ap.add_argument("--keys", type=int, default=500, help="ids the requests spread over (500)")
    ap.add_argument("--slow-size", type=int, default=1 << 20, help="body bytes for slow readers (1 MiB)")
    ap.add_argument("--slack", type=float, default=3.0, help="seconds added to each request's bound (3)")
    ap.add_argument("--sample-every", type=float, help="seconds between RSS rows (60; --quick 10)")
    ap.add_argument("--build-dir", type=Path, default=ROOT / "build", help="where gateway and sample-service are")
    ap.add_argument("--json", type=Path, help="also write the results as JSON to FILE")
    ap.add_argument("--keep-tmp", action="store_true", help="keep the temp dir (configs, logs) for a look")
    args = ap.parse_args(argv)
    if args.duration is None:
        args.duration = 60.0 if args.quick else 600.0
    if args.sample_every is None:
        args.sample_every = 10.0 if args.quick or args.duration < 180 else 60.0
    bins = {b: args.build_dir / b for b in ("gateway", "sample-service")}
    for path in bins.values():
        if not os.access(path, os.X_OK):
            sys.exit(f"soak.py: {path} missing; build first: cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo "
                     f"&& cmake --build build -j2 --target gateway sample-service")
    unwind_on_signals()
    log = progress_log()
    machine = machine_info(args.build_dir)
    procs, tmp = Procs(), Path(tempfile.mkdtemp(prefix="gw-soak-"))
    try:
        raw = run(args, procs, tmp, bins, log)
    except KeyboardInterrupt:
        print("soak.py: interrupted; stopping everything", file=sys.stderr)
        return 130
    finally:
        if args.keep_tmp:
            procs.stop_all()
            print(f"soak.py: kept {tmp}", file=sys.stderr)
        else:
            clean_up(procs, tmp)
    res = assemble(args, argv, raw, machine)
    print(report(res))
    if args.json:
        args.json.write_text(json.dumps(res, indent=1, default=str) + "\n")
    return 1 if any(res["must_be_0"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
