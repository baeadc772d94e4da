#!/usr/bin/env python3
"""Availability during operations, gateway vs nginx, in the same run.

Starts one fleet of sample-service instances and puts the gateway and nginx in
front of it (bench/compare.py's configs: proxy route, no cache, same worker
count, upstream keep-alive, access logs off). Then, for each scenario and each
target in turn, a Python load generator runs (threads: half on keep-alive
connections, half with a new connection per request) while the script
operates the target:

  reload    N reloads that also change the worker count (2 -> 4 -> 1 -> 2 ...):
            the config file is rewritten, then SIGHUP (the gateway; nginx's
            master: what `nginx -s reload` sends)
  upgrade   N binary upgrades, the file replaced first:
            gateway: SIGUSR2 (it starts the file it was started from, hands
            its sockets over; the old one drains and exits; /status gives the
            pid); nginx: its documented sequence, USR2 to the master (a new
            master, nginx.pid.oldbin), WINCH, then QUIT to the old master

and counts requests: ok (200), failed (non-200, or a transport error after
connect), refused (connect errors), and `retried`: a request sent on a reused
keep-alive connection that the server closed before any byte of the answer
(what a reload does to idle connections; clients resend those, RFC 9112
9.3.1), resent once on a new connection, and counted by that second outcome.

    python3 bench/operations.py [--quick] [--scenario reload|upgrade] [--no-reuseport] [--json FILE]

Standard library only, plus compare.py's processes, fleet and targets. See
bench/README.md.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import compare as C

HOST = C.HOST
PATH = "/api/channels/1"
WORKER_CYCLE = [4, 1, 2]          # after the start at 2: 2 -> 4 -> 1 -> 2 -> 4 ...

SCENARIO = C.Scenario(
    name="operations",
    description="proxy path, no cache, under reloads and binary upgrades",
    path=PATH,
    gateway_top="admin: {listen: \"127.0.0.1:@ADMIN_PORT@\"}\n",
    gateway_routes=("  - prefix: /\n"
                    "    upstream: @UPSTREAM@\n"),
    nginx_locations=("        location / {\n"
                     "            proxy_pass http://@UPSTREAM@;\n"
                     "        }\n"),
)


# --------------------------------------------------------------------------
# Processes a binary upgrade leaves behind: the new gateway or nginx master is
# a child of the old one, orphaned when the old one exits. As a subreaper we
# become its parent, so we can find, stop and reap it at the end.

def become_subreaper():
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(36, 1)   # PR_SET_CHILD_SUBREAPER


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def alive(pid: int) -> bool:
    """Running (not gone, not a zombie); reaps it if it is our zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    if state == "Z":
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        return False
    return True


def stop_pid(pid: int, grace=5.0):
    """SIGTERM, wait, SIGKILL: one process we know by pid (an orphan we adopted)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not alive(pid):
            return
        kids = C.children_of(pid)
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and alive(pid):
            time.sleep(0.05)
        for k in kids:
            if sig == signal.SIGKILL and alive(k):
                try:
                    os.kill(k, signal.SIGKILL)
                except ProcessLookupError:
                    pass


def adopted(procs: C.Procs) -> list[int]:
    """Our children that Procs did not start (orphans of upgrades)."""
    known = {p.pid for _, p in procs.running}
    return [pid for pid in C.children_of(os.getpid()) if pid not in known and alive(pid)]


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if pred():
                return True
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{what}: not after {timeout}s")


def replace_file(src: Path, dst: Path):
    """A new file at dst (a new inode, as a package upgrade does)."""
    tmp = dst.with_name(dst.name + ".new")
    shutil.copy2(src, tmp)
    os.replace(tmp, dst)


# --------------------------------------------------------------------------
# Targets, started from a copy of their binary in the temp dir.

class OpsGateway(C.Gateway):
    def __init__(self, source: Path, procs, tmp, workers, keepalive):
        self.source, copy = source, tmp / "gateway-bin" / "gateway"
        copy.parent.mkdir()
        shutil.copy2(source, copy)
        super().__init__(copy, procs, tmp, workers, keepalive)
        self.pid = 0

    def start(self, scenario, fleet_ports, ready_path):
        super().start(scenario, fleet_ports, ready_path)
        self.pid = self.proc.pid

    def status(self) -> dict:
        return json.loads(C.http_get(self.admin_port, "/status", 2.0)[1])

    def reload(self, workers: int):
        conf = self.tmp / "gateway.yaml"
        text = re.sub(r"^workers: \d+$", f"workers: {workers}", conf.read_text(), flags=re.M)
        conf.write_text(text)
        os.kill(self.pid, signal.SIGHUP)
        wait_for(lambda: self.status().get("workers") == workers, 20, f"gateway reload to {workers} workers")

    def upgrade(self, log):
        old = self.pid
        replace_file(self.source, self.binary)
        os.kill(old, signal.SIGUSR2)
        wait_for(lambda: self.status().get("pid") not in (None, old), 40, "gateway upgrade: new pid in /status")
        self.pid = self.status()["pid"]
        wait_for(lambda: not alive(old), 40, f"gateway upgrade: old process {old} exits")
        log(f"gateway: upgraded {old} -> {self.pid}")

    def all_pids(self) -> list[int]:
        return [self.pid] if alive(self.pid) else []


class OpsNginx(C.Nginx):
    reuseport = True

    def __init__(self, procs, tmp, workers, keepalive):
        super().__init__(procs, tmp, workers, keepalive)
        self.source = Path(shutil.which("nginx")).resolve()
        self.binary = tmp / "nginx-bin" / "nginx"
        self.binary.parent.mkdir()
        shutil.copy2(self.source, self.binary)
        self.master = 0

    def start(self, scenario, fleet_ports, ready_path):
        """compare.Nginx.start, but daemonized (as a service runs it) and by
        absolute path: nginx execs argv[0] on USR2 (no PATH lookup), and
        ignores USR2 while its parent is the process that started it (under
        `daemon off;` its log says `signal 12 (SIGUSR2) received ..., ignoring`)."""
        self.port = C.free_port()
        frag = {"TMP": str(self.tmp), "UPSTREAM": "fleet"}
        conf = C.fill((C.CONF / "nginx.conf.in").read_text(), {
            "TMP": str(self.tmp), "NGINX_LISTEN": self.listen(), "WORKERS": str(self.workers),
            "KEEPALIVE": str(self.keepalive * len(fleet_ports)),
            "USER": "user root;" if os.geteuid() == 0 else "",
            "NGINX_SERVERS": "\n".join(f"        server {HOST}:{p};" for p in fleet_ports),
            "WORKER_CONNECTIONS": str(self.worker_connections),
            "NGINX_HTTP": C.fill(scenario.nginx_http, frag),
            "NGINX_LOCATIONS": C.fill(scenario.nginx_locations, frag).rstrip("\n"),
        })
        path, log = self.tmp / "nginx.conf", self.tmp / "nginx.log"
        path.write_text(conf)
        base = [str(self.binary), "-p", str(self.tmp), "-e", str(self.tmp / "nginx-error.log"), "-c", str(path)]
        check = C.subprocess.run(base + ["-t"], capture_output=True, text=True, timeout=30)
        if check.returncode != 0:
            raise RuntimeError(f"nginx -t failed:\n{check.stdout}{check.stderr}")
        starter = self.procs.start("nginx", base, log)
        if starter.wait(timeout=30) != 0:
            raise RuntimeError(f"nginx exited {starter.returncode}: {log.read_text()[-2000:]}")
        pid_file = self.tmp / "nginx.pid"
        wait_for(lambda: pid_file.read_text().strip().isdigit(), 10, "nginx pid file")
        self.master = int(pid_file.read_text())
        C.wait_until(lambda: C.http_get(self.port, ready_path, 1.0)[0] == 200, 15, "nginx")
        wait_for(lambda: len(self.workers_of(self.master)) == self.workers, 10, "nginx workers")

    def stop(self):
        for pid in self.all_pids():
            stop_pid(pid)

    def listen(self) -> str:
        line = super().listen()
        return line if self.reuseport else line.replace(" reuseport;", ";")

    def workers_of(self, master: int, shutting_down=False) -> list[int]:
        want = "nginx: worker process is shutting down" if shutting_down else "nginx: worker process"
        return [pid for pid in C.children_of(master) if cmdline(pid) == want]

    def reload(self, workers: int):
        conf = self.tmp / "nginx.conf"
        text = re.sub(r"^worker_processes \d+;$", f"worker_processes {workers};", conf.read_text(), flags=re.M)
        conf.write_text(text)
        before = set(self.workers_of(self.master))
        os.kill(self.master, signal.SIGHUP)          # = nginx -s reload
        wait_for(lambda: len(self.workers_of(self.master)) == workers
                 and not before & set(self.workers_of(self.master)), 20,
                 f"nginx reload to {workers} workers")

    def upgrade(self, log):
        old = self.master
        pid_file = self.tmp / "nginx.pid"
        replace_file(self.source, self.binary)
        os.kill(old, signal.SIGUSR2)
        wait_for(lambda: (self.tmp / "nginx.pid.oldbin").exists()
                 and pid_file.read_text().strip().isdigit()
                 and int(pid_file.read_text()) != old, 20, "nginx upgrade: new master")
        new = int(pid_file.read_text())
        wait_for(lambda: len(self.workers_of(new)) == self.workers, 20, "nginx upgrade: new workers")
        os.kill(old, signal.SIGWINCH)                # old workers: graceful shutdown
        wait_for(lambda: not C.children_of(old) or
                 all(not cmdline(p).startswith("nginx: worker") for p in C.children_of(old)),
                 40, "nginx upgrade: old workers exit")
        os.kill(old, signal.SIGQUIT)                 # old master: graceful exit
        wait_for(lambda: not alive(old), 40, f"nginx upgrade: old master {old} exits")
        self.master = new
        log(f"nginx: upgraded master {old} -> {new}")

    def all_pids(self) -> list[int]:
        return [self.master] + C.children_of(self.master) if alive(self.master) else []


# --------------------------------------------------------------------------
# The load generator.

# The server closed a reused connection before any byte of the answer.
RetryableClose = C.ClosedBeforeResponse


def read_response(sock: socket.socket) -> tuple[int, bool]:
    """Status and whether the server keeps the connection."""
    status, head = C.read_response_head(sock)
    keep = not re.search(rb"\r\nconnection:\s*close", head, re.I)
    return status, keep


class Load:
    """threads: half keep-alive, half a new connection per request. Stops at
    stop(), after max_seconds, or after max_requests in all, whichever first."""

    def __init__(self, port: int, threads: int, max_seconds: float, max_requests: int):
        self.port, self.max_seconds, self.max_requests = port, max_seconds, max_requests
        self.lock = threading.Lock()
        self.counts = {"ok": 0, "failed": 0, "refused": 0, "retried": 0}
        self.errors: dict[str, int] = {}
        self.done = threading.Event()
        self.req = f"GET {PATH} HTTP/1.1\r\nHost: {HOST}:{port}\r\n\r\n".encode()
        self.req_close = f"GET {PATH} HTTP/1.1\r\nHost: {HOST}:{port}\r\nConnection: close\r\n\r\n".encode()
        self.threads = [threading.Thread(target=self.run, args=(i % 2 == 0,), daemon=True)
                        for i in range(threads)]

    def start(self):
        self.t0 = time.monotonic()
        for t in self.threads:
            t.start()

    def stop(self) -> dict:
        self.done.set()
        for t in self.threads:
            t.join(timeout=15)
        self.seconds = time.monotonic() - self.t0
        return {**self.counts, "seconds": round(self.seconds, 1),
                "errors": sorted(self.errors.items(), key=lambda kv: -kv[1])}

    def count(self, what: str, error: str = ""):
        with self.lock:
            self.counts[what] += 1
            if error:
                self.errors[f"{what}: {error}"] = self.errors.get(f"{what}: {error}", 0) + 1
            total = self.counts["ok"] + self.counts["failed"] + self.counts["refused"]
        if total >= self.max_requests or time.monotonic() - self.t0 > self.max_seconds:
            self.done.set()

    def connect(self) -> socket.socket:
        s = socket.create_connection((HOST, self.port), timeout=5)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def run(self, keepalive: bool):
        kind = "keep-alive" if keepalive else "new connection per request"
        sock, reused = None, False
        while not self.done.is_set():
            retried = False
            while True:
                if sock is None:
                    try:
                        sock, reused = self.connect(), False
                    except OSError as e:
                        self.count("refused", f"{kind}{' (resent)' if retried else ''}: {type(e).__name__}: {e}")
                        time.sleep(0.01)
                        break
                try:
                    sock.sendall(self.req if keepalive else self.req_close)
                    status, keep = read_response(sock)
                except (RetryableClose, ConnectionResetError, BrokenPipeError) as e:
                    sock.close()
                    sock = None
                    if reused and not retried:
                        self.count("retried", f"{kind}: {type(e).__name__}: {e}")
                        retried = True
                        continue               # resend once on a new connection
                    self.count("failed", f"{kind}{' (resent)' if retried else ''}: {type(e).__name__}: {e}")
                    break
                except (OSError, ValueError, IndexError) as e:
                    sock.close()
                    sock = None
                    self.count("failed", f"{kind}{' (resent)' if retried else ''}: {type(e).__name__}: {e}")
                    break
                if status == 200:
                    self.count("ok")
                else:
                    self.count("failed", f"{kind}: HTTP {status}")
                if keepalive and keep:
                    reused = True
                else:
                    sock.close()
                    sock = None
                break
        if sock is not None:
            sock.close()


# --------------------------------------------------------------------------

def run_target(scenario: str, target, args, log) -> dict:
    load = Load(target.port, args.threads, args.max_seconds, args.max_requests)
    ops = []
    load.start()
    time.sleep(args.settle)
    for i in range(args.count):
        if load.done.is_set():
            break
        t0 = time.monotonic()
        try:
            if scenario == "reload":
                workers = WORKER_CYCLE[i % len(WORKER_CYCLE)]
                target.reload(workers)
                ops.append({"op": f"reload to {workers} workers", "seconds": round(time.monotonic() - t0, 2)})
            else:
                target.upgrade(log)
                ops.append({"op": "binary upgrade", "seconds": round(time.monotonic() - t0, 2)})
        except RuntimeError as e:
            ops.append({"op": scenario, "error": str(e)})
            log(f"{target.name}: {scenario} {i + 1}: {e}")
        log(f"{target.name}: {scenario} {i + 1}/{args.count} done ({ops[-1].get('seconds', '-')} s)")
        time.sleep(max(0.0, args.interval - (time.monotonic() - t0)))
    time.sleep(args.settle)
    r = load.stop()
    r["operations"] = ops
    r["operations_ok"] = sum(1 for o in ops if "error" not in o)
    # After the last operation it must still answer.
    try:
        r["after"] = C.http_get(target.port, PATH, 5.0)[0]
    except OSError as e:
        r["after"] = f"{type(e).__name__}: {e}"
    return r


def report(result: dict) -> str:
    m = result["machine"]
    lines = [f"machine: {m['cpu']}, {m['nproc']} cores; gateway {m['gateway_commit']} ({m['gateway_build']}); "
             f"{m['nginx']}",
             f"load: {result['config']['threads']} Python threads (half keep-alive, half a new connection per "
             f"request), GET {PATH}; an operation every {result['config']['interval']:g} s, "
             f"{result['config']['workers']} workers at the start; nginx "
             f"{'with' if result['config'].get('nginx_reuseport', True) else 'without'} reuseport"]
    for sc in result["scenarios"]:
        lines += ["", f"{sc['name']}: {sc['description']}",
                  f"{'target':<8} {'ok':>8} {'failed':>7} {'refused':>8} {'retried':>8} {'req/s':>7} "
                  f"{'ops ok':>7}  after"]
        for t in ("gateway", "nginx"):
            r = sc["targets"].get(t)
            if not r:
                continue
            total = r["ok"] + r["failed"] + r["refused"]
            lines.append(f"{t:<8} {r['ok']:>8} {r['failed']:>7} {r['refused']:>8} {r['retried']:>8} "
                         f"{r['ok'] / max(r['seconds'], 0.1):>7.0f} {r['operations_ok']:>3}/{len(r['operations'])}"
                         f"  {r['after']}")
            if total:
                lines.append(f"{'':<8} {100 * r['ok'] / total:>7.3f}% ok, "
                             f"{100 * (r['failed'] + r['refused']) / total:.3f}% failed or refused")
        for t in ("gateway", "nginx"):
            r = sc["targets"].get(t)
            if not r:
                continue
            for text, n in r["errors"][:5]:
                lines.append(f"  {t}: {n} x {text}")
            for o in r["operations"]:
                if "error" in o:
                    lines.append(f"  {t}: operation failed: {o['error']}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", action="append", choices=["reload", "upgrade"],
                    help="scenario to run (repeatable; default both)")
    ap.add_argument("--quick", action="store_true", help="3 reloads / 1 upgrade, 4 threads")
    ap.add_argument("--count", type=int, help="operations per target (default: reload 6, upgrade 3; --quick 3, 1)")
    ap.add_argument("--interval", type=float, default=3.0, help="seconds between operations (default 3)")
    ap.add_argument("--settle", type=float, default=2.0, help="load before the first and after the last operation")
    ap.add_argument("--threads", type=int, help="load threads (default 8; --quick 4)")
    ap.add_argument("--max-seconds", type=float, default=90.0, help="load cap per target and scenario")
    ap.add_argument("--max-requests", type=int, default=500000, help="load cap per target and scenario")
    ap.add_argument("--workers", type=int, default=2, help="workers at the start, both targets (default 2)")
    ap.add_argument("--keepalive", type=int, default=64, help="idle upstream connections per instance per worker")
    ap.add_argument("--no-reuseport", action="store_true",
                    help="nginx: one shared listening socket (compare.py's config has `reuseport`)")
    ap.add_argument("--build-dir", type=Path, default=C.ROOT / "build")
    ap.add_argument("--json", type=Path, help="also write the results as JSON to FILE")
    args = ap.parse_args(argv)
    if args.threads is None:
        args.threads = 4 if args.quick else 8
    chosen = args.scenario or ["reload", "upgrade"]
    if not shutil.which("nginx"):
        sys.exit("operations.py: nginx not found (scripts/setup.sh bench installs it)")
    bins = {b: args.build_dir / b for b in ("gateway", "sample-service")}
    for path in bins.values():
        if not os.access(path, os.X_OK):
            sys.exit(f"operations.py: {path} missing; build first (scripts/setup.sh)")

    OpsNginx.reuseport = not args.no_reuseport
    C.unwind_on_signals()
    become_subreaper()
    log = C.progress_log()
    procs, tmp = C.Procs(), Path(tempfile.mkdtemp(prefix="gw-ops-"))
    result = {"machine": C.machine_info(args.build_dir),
              "command": " ".join(["python3", "bench/operations.py", *(argv if argv is not None else sys.argv[1:])]),
              "config": {"threads": args.threads, "interval": args.interval, "workers": args.workers,
                         "nginx_reuseport": not args.no_reuseport},
              "scenarios": []}
    failed = False
    try:
        fleet = C.Fleet(procs, bins["sample-service"], tmp, SCENARIO)
        for name in chosen:
            count = args.count or {"reload": 3 if args.quick else 6, "upgrade": 1 if args.quick else 3}[name]
            a = argparse.Namespace(**{**vars(args), "count": count})
            desc = (f"{count} reloads, workers {args.workers} -> " + " -> ".join(
                str(WORKER_CYCLE[i % 3]) for i in range(count)) + " (config rewritten, SIGHUP)"
                if name == "reload" else
                f"{count} binary upgrades (file replaced; gateway SIGUSR2; nginx USR2, WINCH, QUIT)")
            sc = {"name": name, "description": desc, "targets": {}}
            for cls in (OpsGateway, OpsNginx):
                sub = tmp / f"{name}-{cls.__name__}"
                sub.mkdir()
                t = (cls(bins["gateway"], procs, sub, args.workers, args.keepalive) if cls is OpsGateway
                     else cls(procs, sub, args.workers, args.keepalive))
                t.fleet = fleet
                log(f"{name}: {t.name} starting")
                t.start(SCENARIO, fleet.ports, PATH)
                try:
                    sc["targets"][t.name] = run_target(name, t, a, log)
                finally:
                    t.stop()
                    for pid in adopted(procs):      # the upgraded process
                        stop_pid(pid)
                r = sc["targets"][t.name]
                log(f"{name}: {t.name}: ok {r['ok']}, failed {r['failed']}, refused {r['refused']}, "
                    f"retried {r['retried']}")
                failed |= r["operations_ok"] != len(r["operations"]) or r["after"] != 200
            result["scenarios"].append(sc)
    except KeyboardInterrupt:
        print("operations.py: interrupted; stopping everything", file=sys.stderr)
        return 130
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)     # a second Ctrl-C must not cut this short
        for pid in adopted(procs):
            stop_pid(pid)
        C.clean_up(procs, tmp)
        for pid in adopted(procs):
            stop_pid(pid)

    print(f"$ {result['command']}")
    print(report(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
