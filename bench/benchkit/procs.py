"""Processes every bench script starts: tracked, stopped at the end, their CPU
and memory; small HTTP helpers. Split out of bench/compare.py."""
from __future__ import annotations

import ctypes
import os
import resource
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from benchkit import HOST


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


def wait_quiet(pids, busy: float = 0.02, window: float = 0.5, timeout: float = 30.0) -> float:
    """Waits until the processes use under `busy` of a core over `window`
    seconds (e.g. a gateway's zone thread making its cache's 4,096 bucket
    directories after start-up), at most `timeout` seconds. Returns the
    seconds waited."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        before = cpu_seconds(pids)
        time.sleep(window)
        if cpu_delta(before, cpu_seconds(pids)) < busy * window:
            break
    return time.monotonic() - t0


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
