"""Shared parts of the bench scripts (processes, targets, wrk, idle
connections, report helpers); bench/compare.py re-exports them all."""
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent
ROOT = BENCH.parent
CONF = BENCH / "conf"
HOST = "127.0.0.1"
