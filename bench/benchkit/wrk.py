"""Running wrk and reading its output (with conf/p999.lua's p99.9). Split out
of bench/compare.py."""
from __future__ import annotations

import os
import re
import subprocess
from typing import Optional

from benchkit import CONF, HOST


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


def run_wrk(scenario: "Scenario", port: int, duration: float, path: str,
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
