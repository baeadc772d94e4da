"""Progress lines, the machine's description and summary statistics for the
reports. Split out of bench/compare.py."""
from __future__ import annotations

import datetime
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

from benchkit import ROOT


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
