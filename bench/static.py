#!/usr/bin/env python3
"""Static files: the gateway's `static:` route vs nginx's `root`.

Both serve the same directory (made here: a 4 KiB and a 1 MiB file) with
sendfile on, the same worker count and access logs off; wrk asks for one
file per scenario, keep-alive, A B A B rounds alternating in one run
(compare.py's run_scenario), and the report gives medians of req/s and p99,
the ratios gateway/nginx and CPU per request.

    python3 bench/static.py [--quick] [--workers N] [--open-file-cache] [--json FILE]

Standard library only, plus compare.py's processes, fleet and targets (the
fleet is started because the shared configurations name it; no request
reaches it). See bench/README.md.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

import compare as C
from benchkit.session import session  # noqa: E402

SIZES = {"static-4k": ("4k.bin", 4096), "static-1m": ("1m.bin", 1 << 20)}


# nginx's open_file_cache as a tuned site sets it: descriptors and sizes
# kept, checked every 60 s (the gateway checks every request: see README).
OPEN_FILE_CACHE = "    open_file_cache max=1000 inactive=20s;\n    open_file_cache_valid 60s;\n"


def scenario(name: str, file: str, open_file_cache: bool) -> C.Scenario:
    def preflight(targets, fleet, path):
        want = (targets[0].tmp / "www" / file).stat().st_size
        for t in targets:
            status, body = C.http_get(t.port, path)
            if status != 200 or len(body) != want:
                raise RuntimeError(f"{t.name}: GET {path} gave {status}, {len(body)} bytes (want {want})")

    return C.Scenario(
        name=name,
        description=f"GET /{file}: a {SIZES[name][1]:,}-byte file from disk (page cache), sendfile",
        path=f"/{file}",
        instances=1,
        gateway_routes="  - prefix: /\n    static: {root: \"@TMP@/www\"}\n",
        nginx_http="    sendfile on;\n" + (OPEN_FILE_CACHE if open_file_cache else ""),
        nginx_locations="        location / {\n            root @TMP@/www;\n        }\n",
        preflight=preflight,
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 rounds of 3 s, 1 s warm-up")
    ap.add_argument("--rounds", type=int, help="rounds per target (default 3; --quick 2)")
    ap.add_argument("--duration", type=float, help="seconds per round (default 5; --quick 3)")
    ap.add_argument("--warmup", type=float, help="warm-up seconds per target (default 2; --quick 1)")
    ap.add_argument("--workers", type=int, default=1, help="gateway workers = nginx worker_processes (default 1)")
    ap.add_argument("--keepalive", type=int, default=64, help="as compare.py (unused: nothing is proxied)")
    ap.add_argument("--open-file-cache", action="store_true",
                    help="nginx with open_file_cache (max=1000, valid 60s); default: nginx's default, off")
    ap.add_argument("--build-dir", type=Path, default=C.ROOT / "build")
    ap.add_argument("--json", type=Path, help="also write the results as JSON to FILE")
    args = ap.parse_args(argv)
    for key, full, quick in (("rounds", 3, 2), ("duration", 5.0, 3.0), ("warmup", 2.0, 1.0)):
        if getattr(args, key) is None:
            setattr(args, key, quick if args.quick else full)
    bins = {b: args.build_dir / b for b in ("gateway", "sample-service")}
    for path in bins.values():
        if not os.access(path, os.X_OK):
            sys.exit(f"static.py: {path} missing; build first")
    for tool in ("wrk", "nginx"):
        if not shutil.which(tool):
            sys.exit(f"static.py: {tool} not found")

    with session("static.py", argv, args.build_dir) as (procs, tmp, log, result):
        www = tmp / "www"
        www.mkdir()
        for file, size in SIZES.values():
            (www / file).write_bytes(os.urandom(size))
        # nginx workers may run as another user: the files are world-readable.
        for p in [tmp, www, *www.iterdir()]:
            p.chmod(0o755 if p.is_dir() else 0o644)
        result["config"] = {"workers": args.workers, "keepalive": args.keepalive, "rounds": args.rounds,
                            "duration": args.duration, "warmup": args.warmup, "size": None,
                            "nginx_open_file_cache": args.open_file_cache}
        result["scenarios"] = [C.run_scenario(scenario(name, file, args.open_file_cache), args, procs, tmp, bins, log)
                               for name, (file, _) in SIZES.items()]
        print(C.report(result))
        if args.json:
            args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
