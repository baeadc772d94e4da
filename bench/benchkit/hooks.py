"""compare.py's before_round hooks and the composed page's pre-flight. Split
out of bench/compare.py."""
from __future__ import annotations

import json
import re
import time
import urllib.request
from pathlib import Path

from benchkit import HOST
from benchkit.procs import http_get, http_get_full


# before_round hooks.

def prime_cache(target: "Target", sc: "Scenario", path: str, tries: int = 40):
    """GET path until the target says it answered from its cache."""
    seen = []
    for _ in range(tries):
        status, headers, _body = http_get_full(target.port, path)
        verdict = headers.get(target.cache_header, "-")
        seen.append(f"{status} {verdict}")
        if status == 200 and verdict.upper().startswith("HIT"):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{target.name}: GET {path} never became a cache hit "
                       f"({target.cache_header}: {', '.join(seen[:6])}...)")


def purge_gateway(target: "Target", sc: "Scenario", path: str):
    """Empty the gateway's cache (admin POST /purge?prefix=/). nginx has no
    purge: the round's salt in every URL gives it a cold cache instead."""
    if target.name != "gateway":
        return
    req = urllib.request.Request(f"http://{HOST}:{target.admin_port}/purge?prefix=/",
                                 method="POST", data=b"")
    with urllib.request.urlopen(req, timeout=5) as r:
        body = json.loads(r.read())
    if "purged" not in body:
        raise RuntimeError(f"gateway purge: unexpected answer {body}")


def prime_page(target: "Target", sc: "Scenario", path: str, tries: int = 40):
    """GET the page until two GETs in a row reach the fleet with nothing,
    i.e. every fragment is a cache hit (the page itself is not cached)."""
    quiet, seen = 0, []
    for _ in range(tries):
        before = target.fleet.stats()["requests"]
        status, _body = http_get(target.port, path)
        reached = target.fleet.stats()["requests"] - before
        seen.append(f"{status}/{reached}")
        quiet = quiet + 1 if status == 200 and reached == 0 else 0
        if quiet == 2:
            return
        time.sleep(0.05)
    raise RuntimeError(f"{target.name}: GET {path} never came without fleet requests "
                       f"(status/fleet requests: {', '.join(seen[:8])}...)")


_INCLUDE = re.compile(r'<!--#\s*include\s+virtual="([^"]+)"')


def _instance_neutral(body: bytes) -> bytes:
    """Fragments say which instance made them (data-instance="fleet-2")."""
    return re.sub(rb"fleet-\d+", b"fleet-N", body)


def check_page(template: Path):
    """Pre-flight of a composed page: both targets give 200 and the same
    assembled body modulo instance names, containing every fragment the
    template includes (as an instance serves it) and no include tag left."""
    def check(targets: list["Target"], fleet: "Fleet", path: str):
        fragments = {}
        for frag in _INCLUDE.findall(template.read_text()):
            status, body = http_get(fleet.ports[0], frag)
            if status != 200 or not body:
                raise RuntimeError(f"pre-flight: an instance gave {status} for {frag}")
            fragments[frag] = _instance_neutral(body)
        if not fragments:
            raise RuntimeError(f"pre-flight: no include in {template}")
        pages = {}
        for t in targets:
            status, body = http_get(t.port, path)
            page = _instance_neutral(body)
            missing = [f for f, b in fragments.items() if b not in page]
            if status != 200 or missing or b"<!--#" in page:
                raise RuntimeError(f"{t.name}: GET {path} gave {status}, {len(body)} bytes; "
                                   f"fragments missing: {missing or 'none'}; include tags left: "
                                   f"{page.count(b'<!--#')}")
            pages[t.name] = page
        first, *rest = pages.items()
        for name, page in rest:
            if page != first[1]:
                at = next((i for i, (a, b) in enumerate(zip(first[1], page)) if a != b),
                          min(len(first[1]), len(page)))
                raise RuntimeError(f"pre-flight: {first[0]} and {name} assemble different pages "
                                   f"({len(first[1])} vs {len(page)} bytes, first difference at "
                                   f"byte {at}: {first[1][at:at + 60]!r} vs {page[at:at + 60]!r})")
    return check
