"""The fleet of sample-service instances and the two targets in front of it
(the gateway and nginx), configured from bench/conf/*.in. Split out of
bench/compare.py."""
from __future__ import annotations

import json
import os
import re
import resource
import subprocess
from pathlib import Path
from typing import Optional

from benchkit import CONF, HOST
from benchkit.procs import Procs, children_of, free_port, http_get, rss_bytes, wait_until


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
