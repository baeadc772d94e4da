#!/usr/bin/env python3
"""Access control and rewrites, gateway vs nginx in the same run.

Two scenarios on compare.py's harness (same fleet, alternating wrk rounds):

  rewrite   GET /old/1, rewritten before routing to /api/channels/1 (the
            gateway's top-level `rewrite:`, RE2; nginx's server-level
            `rewrite ^/old/(.*)$ /api/channels/$1 last;`), proxied
  access    GET /api/channels/1 through 32 address rules, the client allowed
            by the last before `deny all` (the gateway's `access:`; nginx's
            allow/deny), proxied

Basic auth is not measured here: compare.py's readiness and pre-flight checks
ask without credentials.

    python3 bench/access.py [--quick] [--rounds N] [--duration S] [--workers N] [--json FILE]

Each run is seconds; the whole script well under 4 minutes (--quick: ~1).
"""
from __future__ import annotations

import argparse
import json
import sys

import compare as C
from benchkit.session import add_target_options, binaries, session

PROXY = "  - prefix: /\n    upstream: @UPSTREAM@\n"
NGINX_PROXY = "        location / {\n            proxy_pass http://@UPSTREAM@;\n        }\n"
DENIED = [f"192.0.{i}.0/24" for i in range(31)]


def rewritten_preflight(targets, fleet, path):
    """Both answer /old/1 as an instance answers /api/channels/1."""
    direct = C.http_get(fleet.ports[0], "/api/channels/1")
    for t in targets:
        status, body = C.http_get(t.port, path)
        if status != 200 or len(body) != len(direct[1]):
            raise RuntimeError(f"{t.name}: GET {path} gave {status}, {len(body)} bytes, not the rewritten answer")


def scenarios() -> list[C.Scenario]:
    rules = "".join(f"  - {{deny: {c}}}\n" for c in DENIED) + "  - {allow: 127.0.0.1}\n  - {deny: all}\n"
    nginx_rules = "".join(f"        deny {c};\n" for c in DENIED) + "        allow 127.0.0.1;\n        deny all;\n"
    return [
        C.Scenario(name="rewrite", description="a rewrite before routing (RE2 vs PCRE), proxied",
                   path="/old/1",
                   gateway_top='rewrite:\n  - {match: "^/old/(.*)$", to: "/api/channels/$1"}\n',
                   gateway_routes=PROXY,
                   nginx_locations="        rewrite ^/old/(.*)$ /api/channels/$1 last;\n" + NGINX_PROXY,
                   preflight=rewritten_preflight),
        C.Scenario(name="access", description="33 allow/deny rules, the client allowed by the 32nd, proxied",
                   path="/api/channels/1",
                   gateway_top="access:\n" + rules,
                   gateway_routes=PROXY,
                   nginx_locations=nginx_rules + NGINX_PROXY),
    ]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 rounds of 3 s, 1 s warm-up")
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--duration", type=float)
    ap.add_argument("--warmup", type=float)
    ap.add_argument("--json", type=__import__("pathlib").Path)
    add_target_options(ap)
    args = ap.parse_args(argv)
    for key, full, quick in (("rounds", 3, 2), ("duration", 8.0, 3.0), ("warmup", 2.0, 1.0)):
        if getattr(args, key) is None:
            setattr(args, key, quick if args.quick else full)
    bins = binaries(args.build_dir)
    with session("access.py", argv, args.build_dir) as (procs, tmp, log, result):
        result["config"] = {"workers": args.workers, "keepalive": args.keepalive, "rounds": args.rounds,
                            "duration": args.duration, "warmup": args.warmup}
        result["scenarios"] = [C.run_scenario(sc, args, procs, tmp, bins, log) for sc in scenarios()]
    print(f"$ {result['command']}")
    print(C.report(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 1 if any(s["summary"][t]["valid"] == 0 for s in result["scenarios"] for t in s["summary"]) else 0


if __name__ == "__main__":
    sys.exit(main())
