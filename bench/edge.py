#!/usr/bin/env python3
"""Gateway vs nginx at the edge: HTTPS and HTTP/2, in the same run.

Starts one fleet of sample-service instances and puts the gateway and nginx in
front of it, each with a plain listener (for priming) and a TLS listener with
the SAME certificate (ECDSA P-256, made here with `openssl req`), TLS 1.2 and
1.3, the same ciphers (the gateway's defaults: both negotiate the same suite,
printed in the report), the same worker count, access logs off. Then, for each
load, A B A B rounds:

  https-proxy       wrk, HTTPS keep-alive, proxied (no cache)
  https-cache-hit   wrk, HTTPS keep-alive, 1 KiB cache hits
  https-handshake   wrk with `Connection: close`: one full TLS handshake per
                    request (wrk resumes no session), 1 KiB cache hits
  h2-proxy          h2load over TLS (ALPN h2), 10 clients x 10 streams, proxied
  h2-cache-hit      h2load, 1 KiB cache hits

and prints medians of req/s and p99 latency, the ratios gateway/nginx, and
each target's CPU per request split into user and kernel time.

    python3 bench/edge.py [--quick] [--load NAME ...] [--workers N] [--json FILE]

Standard library only, plus compare.py's processes, fleet and targets. See
bench/README.md.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

import compare as C

HOST = C.HOST
PROXY_PATH = "/api/channels/1"
# Its own route on both targets (prefix /api/channels/2), primed per round.
GATEWAY_TLS12_CIPHERS = ("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
                         "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305")
CACHE_PATH = "/api/channels/2?size=1024&cache_control=max-age=60&salt=@ROUND@"


@dataclasses.dataclass
class Load:
    name: str
    description: str
    tool: str                     # "wrk" or "h2load"
    path: str
    cached: bool = False          # prime the path before each round
    wrk_args: list[str] = dataclasses.field(default_factory=list)


LOADS = [
    Load("https-proxy", "HTTPS keep-alive, proxied, no cache (wrk -t2 -c64)", "wrk", PROXY_PATH),
    Load("https-cache-hit", "HTTPS keep-alive, 1 KiB cache hits (wrk -t2 -c64)", "wrk", CACHE_PATH, cached=True),
    Load("https-handshake", "a new TLS connection per request: full handshakes, 1 KiB cache hits "
         "(wrk -t2 -c64, Connection: close)", "wrk", CACHE_PATH, cached=True,
         wrk_args=["-H", "Connection: close"]),
    Load("h2-proxy", "HTTP/2 over TLS, proxied, no cache (h2load -t2 -c10 -m10)", "h2load", PROXY_PATH),
    Load("h2-cache-hit", "HTTP/2 over TLS, 1 KiB cache hits (h2load -t2 -c10 -m10)", "h2load", CACHE_PATH,
         cached=True),
]

# Both targets' routes: the cached prefix, and everything else proxied.
SCENARIO = C.Scenario(
    name="edge",
    description="HTTPS and HTTP/2",
    path=PROXY_PATH,
    gateway_top=(
        "caches:\n"
        "  main: {path: \"@TMP@/gateway-cache-edge\", max_size: 1GiB, memory: 64MiB,\n"
        "         memory_entry_max: 64KiB, policy: s3fifo}\n"),
    gateway_routes=(
        "  - prefix: /api/channels/2\n"
        "    upstream: @UPSTREAM@\n"
        "    cache: {zone: main, ttl: 60s}\n"
        "  - prefix: /\n"
        "    upstream: @UPSTREAM@\n"),
    nginx_http=C.NGINX_CACHE_HTTP.replace("@NAME@", "edge") + "    sendfile off;\n",
    nginx_locations=(
        C.NGINX_CACHE_LOCATION.replace("location / {", "location /api/channels/2 {")
        + "        location / {\n"
        "            proxy_pass http://@UPSTREAM@;\n"
        "        }\n"),
)


def make_certificate(tmp: Path) -> tuple[Path, Path]:
    cert, key = tmp / "edge-cert.pem", tmp / "edge-key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True, timeout=30)
    return cert, key


class TlsGateway(C.Gateway):
    def __init__(self, cert: Path, key: Path, *a):
        super().__init__(*a)
        self.cert, self.key, self.tls_port = cert, key, 0

    def listen(self) -> str:
        self.tls_port = C.free_port()
        return (f'"{HOST}:{self.port}", {{address: "{HOST}:{self.tls_port}", '
                f'tls: {{certificates: [{{cert: "{self.cert}", key: "{self.key}"}}]}}}}')


class TlsNginx(C.Nginx):
    def __init__(self, cert: Path, key: Path, *a):
        super().__init__(*a)
        self.cert, self.key, self.tls_port = cert, key, 0

    def listen(self) -> str:
        self.tls_port = C.free_port()
        return (super().listen() + "\n"
                f"        listen {HOST}:{self.tls_port} ssl http2 reuseport;\n"
                f"        ssl_certificate {self.cert};\n"
                f"        ssl_certificate_key {self.key};\n"
                "        ssl_protocols TLSv1.2 TLSv1.3;\n"
                # The gateway's default TLS 1.2 list (gateway/config.hpp); TLS
                # 1.3 suites are OpenSSL's defaults on both.
                f"        ssl_ciphers {GATEWAY_TLS12_CIPHERS};")


def negotiated(port: int, alpn: str) -> str:
    """Protocol, cipher and ALPN protocol a fresh `openssl s_client` gets."""
    # -msg: to count the session tickets sent after the handshake (the
    # request makes s_client read them before it closes).
    p = subprocess.run(["openssl", "s_client", "-connect", f"{HOST}:{port}", "-servername", "localhost",
                        "-alpn", alpn, "-msg", "-ign_eof"],
                       input=f"GET {PROXY_PATH} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
                       capture_output=True, text=True, errors="replace", timeout=10)
    out = p.stdout + p.stderr
    m = re.search(r"^New, (\S+), Cipher is (\S+)", out, re.M)
    got = re.search(r"^ALPN protocol: (\S+)", out, re.M)
    group = re.search(r"^Server Temp Key: ([^,\n]+)", out, re.M)
    return ((f"{m.group(1)} {m.group(2)}" if m else "no handshake") + f", ALPN {got.group(1) if got else 'none'}"
            + f", group {group.group(1) if group else '?'}, {out.count(', NewSessionTicket')} session tickets")


# --------------------------------------------------------------------------
# Load tools.

def run_wrk(load: Load, port: int, path: str, duration: float) -> dict:
    argv = ["wrk", "-t2", "-c64", f"-d{duration:g}s", "--latency", *load.wrk_args,
            f"https://{HOST}:{port}{path}"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60)
    r = C.parse_wrk(out.stdout)
    if out.returncode != 0:
        r["valid"] = False
        r["problems"].append(f"wrk exited {out.returncode}: {out.stderr.strip()[:200]}")
    r["command"] = " ".join(argv)
    return r


def parse_h2load(out: str, log_file: Path) -> dict:
    r = {"rps": None, "p99_ms": None, "requests": 0, "problems": []}
    if m := re.search(r"^finished in [\d.]+s, ([\d.]+) req/s", out, re.M):
        r["rps"] = float(m.group(1))
    if m := re.search(r"^requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, "
                      r"(\d+) errored, (\d+) timeout", out, re.M):
        total, done, ok, failed, errored, timeout = map(int, m.groups())
        r["requests"] = ok
        if failed or errored or timeout:
            r["problems"].append(f"{failed} failed, {errored} errored, {timeout} timeout")
    if m := re.search(r"^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out, re.M):
        if int(m.group(3)) or int(m.group(4)):
            r["problems"].append(f"{m.group(3)} 4xx, {m.group(4)} 5xx")
    if "h2" not in out.split("Application protocol:")[-1][:10]:
        r["problems"].append("not HTTP/2 (ALPN)")
    try:
        lat = sorted(int(line.split("\t")[2]) for line in log_file.read_text().splitlines() if line.count("\t") >= 2)
        if lat:
            r["p99_ms"] = lat[min(len(lat) - 1, int(len(lat) * 0.99))] / 1000.0
    except OSError:
        pass
    if r["rps"] is None or r["p99_ms"] is None or r["requests"] == 0:
        r["problems"].append("h2load output not understood")
    r["valid"] = not r["problems"]
    return r


def run_h2load(port: int, path: str, duration: float, log_file: Path) -> dict:
    log_file.unlink(missing_ok=True)
    argv = ["h2load", "-t2", "-c10", "-m10", "-D", f"{duration:g}", f"--log-file={log_file}",
            f"https://{HOST}:{port}{path}"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60)
    r = parse_h2load(out.stdout, log_file)
    if out.returncode != 0:
        r["valid"] = False
        r["problems"].append(f"h2load exited {out.returncode}: {out.stderr.strip()[:200]}")
    r["command"] = " ".join(argv)
    return r


def run_round(load: Load, target, tmp: Path, tag: str, duration: float) -> dict:
    path = load.path.replace("@ROUND@", tag)
    if load.cached:
        C.prime_cache(target, SCENARIO, path)
    before = C.cpu_times(target.pids())
    if load.tool == "wrk":
        r = run_wrk(load, target.tls_port, path, duration)
    else:
        r = run_h2load(target.tls_port, path, duration, tmp / f"h2load-{target.name}.log")
    after = C.cpu_times(target.pids())
    user = sum(u - before.get(pid, (0, 0))[0] for pid, (u, _) in after.items())
    kernel = sum(k - before.get(pid, (0, 0))[1] for pid, (_, k) in after.items())
    n = max(r["requests"], 1)
    r["user_us_per_req"], r["kernel_us_per_req"] = user / n * 1e6, kernel / n * 1e6
    return r


def median_of(rounds: list[dict], key: str) -> Optional[float]:
    values = [r[key] for r in rounds if r.get(key) is not None]
    return statistics.median(values) if values else None


def report(result: dict) -> str:
    lines = [f"machine: {result['machine']['cpu']}, {result['machine']['nproc']} cores; "
             f"gateway {result['machine']['gateway_commit']} ({result['machine']['gateway_build']}); "
             f"{result['machine']['nginx']}",
             f"workers {result['config']['workers']}, {result['config']['rounds']} rounds of "
             f"{result['config']['duration']:g} s per target; medians",
             *(f"negotiated, {name}: {text}" for name, text in result["negotiated"].items()), "",
             f"{'load':<16} {'target':<8} {'req/s':>10} {'p99 ms':>8} {'user us/req':>12} "
             f"{'kernel us/req':>14}  valid"]
    for load in result["loads"]:
        for t in ("gateway", "nginx"):
            s = load["summary"][t]
            lines.append(f"{load['name']:<16} {t:<8} {s['rps'] or 0:>10.0f} {s['p99_ms'] or 0:>8.2f} "
                         f"{s['user_us_per_req'] or 0:>12.1f} {s['kernel_us_per_req'] or 0:>14.1f}  "
                         f"{s['valid']}/{len(load['rounds'][t])}")
        g, n = load["summary"]["gateway"], load["summary"]["nginx"]
        if g["rps"] and n["rps"]:
            lines.append(f"{'':<16} {'ratio':<8} {g['rps'] / n['rps']:>9.2f}x {g['p99_ms'] / n['p99_ms']:>7.2f}x "
                         f"(gateway/nginx; req/s higher is better, p99 lower is better)")
        for t in ("gateway", "nginx"):
            for r in load["rounds"][t]:
                if not r["valid"]:
                    lines.append(f"{'':<16} {t} round INVALID: {'; '.join(r['problems'])}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--load", action="append", help="load to run (repeatable; default: all). Known: "
                    + ", ".join(x.name for x in LOADS))
    ap.add_argument("--quick", action="store_true", help="2 rounds of 3 s, 1 s warm-up")
    ap.add_argument("--rounds", type=int, help="rounds per target (default 3; --quick 2)")
    ap.add_argument("--duration", type=float, help="seconds per round (default 10; --quick 3)")
    ap.add_argument("--warmup", type=float, help="warm-up seconds per target and load (default 3; --quick 1)")
    ap.add_argument("--workers", type=int, default=1, help="gateway workers = nginx worker_processes (default 1)")
    ap.add_argument("--keepalive", type=int, default=64, help="idle upstream connections per instance per worker")
    ap.add_argument("--build-dir", type=Path, default=C.ROOT / "build")
    ap.add_argument("--json", type=Path, help="also write the results as JSON to FILE")
    ap.add_argument("--serve", type=float, metavar="SECONDS",
                    help="start both targets, print their TLS ports and PIDs, keep them up this long and stop "
                         "(no load: for profiling by hand, e.g. perf record -p PID)")
    args = ap.parse_args(argv)
    for key, full, quick in (("rounds", 3, 2), ("duration", 10.0, 3.0), ("warmup", 3.0, 1.0)):
        if getattr(args, key) is None:
            setattr(args, key, quick if args.quick else full)
    known = {x.name: x for x in LOADS}
    chosen = [known[n] for n in args.load] if args.load else LOADS
    for tool in ("wrk", "nginx", "h2load", "openssl"):
        if not shutil.which(tool):
            sys.exit(f"edge.py: {tool} not found (scripts/setup.sh bench installs it)")
    bins = {b: args.build_dir / b for b in ("gateway", "sample-service")}
    for path in bins.values():
        if not os.access(path, os.X_OK):
            sys.exit(f"edge.py: {path} missing; build first (scripts/setup.sh)")

    C.unwind_on_signals()
    log = C.progress_log()
    procs, tmp = C.Procs(), Path(tempfile.mkdtemp(prefix="gw-edge-"))
    result = {"machine": C.machine_info(args.build_dir),
              "command": " ".join(["python3", "bench/edge.py", *(argv if argv is not None else sys.argv[1:])]),
              "config": {"workers": args.workers, "rounds": args.rounds, "duration": args.duration},
              "negotiated": {}, "loads": []}
    try:
        cert, key = make_certificate(tmp)
        fleet = C.Fleet(procs, bins["sample-service"], tmp, SCENARIO)
        targets = [TlsGateway(cert, key, bins["gateway"], procs, tmp, args.workers, args.keepalive),
                   TlsNginx(cert, key, procs, tmp, args.workers, args.keepalive)]
        for t in targets:
            t.fleet = fleet
            t.start(SCENARIO, fleet.ports, PROXY_PATH)
            for alpn in ("http/1.1", "h2"):
                result["negotiated"][f"{t.name} {alpn}"] = negotiated(t.tls_port, alpn)
        if args.serve:
            for t in targets:
                print(f"{t.name}: https://{HOST}:{t.tls_port}{PROXY_PATH} pids {' '.join(map(str, t.pids()))}",
                      flush=True)
            print(f"cached path: {CACHE_PATH.replace('@ROUND@', 'serve')} (primed)", flush=True)
            for t in targets:
                C.prime_cache(t, SCENARIO, CACHE_PATH.replace("@ROUND@", "serve"))
            time.sleep(args.serve)
            chosen = []
        for load in chosen:
            log(f"{load.name}: warm-up")
            for t in targets:
                run_round(load, t, tmp, f"{t.name}-warm", args.warmup)
            rounds = {t.name: [] for t in targets}
            for i in range(args.rounds):
                for t in targets:
                    log(f"{load.name}: {t.name} round {i + 1}/{args.rounds}")
                    rounds[t.name].append(run_round(load, t, tmp, f"{t.name}-r{i}", args.duration))
            summary = {}
            for name, rs in rounds.items():
                ok = [r for r in rs if r["valid"]]
                summary[name] = {k: median_of(ok, k) for k in ("rps", "p99_ms", "user_us_per_req",
                                                                 "kernel_us_per_req")}
                summary[name]["valid"] = len(ok)
            result["loads"].append({"name": load.name, "description": load.description,
                                    "rounds": rounds, "summary": summary})
    except KeyboardInterrupt:
        print("edge.py: interrupted; stopping everything", file=sys.stderr)
        return 130
    finally:
        C.clean_up(procs, tmp)

    print(f"$ {result['command']}")
    print(report(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    bad = any(s["valid"] == 0 for load in result["loads"] for s in load["summary"].values())
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
