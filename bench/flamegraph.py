#!/usr/bin/env python3
"""Folded stacks -> flame graph SVG, and `perf script` output -> folded stacks.

    perf script -i perf.data | python3 bench/flamegraph.py --fold > stacks.folded
    python3 bench/flamegraph.py stacks.folded --title "cache hit" > flame.svg
    python3 bench/flamegraph.py --self-test

Folded stacks are one line per distinct stack: frames from the root to the
leaf joined by ';', a space, and a sample count (the format other flame graph
tools read too). The SVG is static (no script): one box per frame, width
proportional to its samples, the root at the bottom; hovering a box shows
its full name, samples and share (an SVG <title>). Kernel frames are drawn
in orange, user-space frames in red-yellow; the colour within a band is a
hash of the name, so the same function has the same colour in the "before"
and "after" graphs. Standard library only; written for this project.
"""
from __future__ import annotations

import argparse
import hashlib
import html
import re
import sys
from collections import Counter
from typing import Iterable

# --------------------------------------------------------------------------
# perf script -> folded

_OFFSET = re.compile(r"\+0x[0-9a-f]+$")


def simplify(sym: str) -> str:
    """A C++ name without template arguments, parameter lists or clone
    suffixes: `ns::f<std::vector<int>>(int) const [clone .isra.0]` ->
    `ns::f<>`. (`operator()` / `operator<` keep their own brackets.)"""
    sym = re.sub(r" \[clone [^\]]*\]", "", sym).replace("(anonymous namespace)", "{anon}")
    out, depth, i = [], 0, 0
    while i < len(sym):
        c = sym[i]
        for op in ("operator()", "operator<<=", "operator<<", "operator<=", "operator<",
                   "operator>>=", "operator>>", "operator>=", "operator>", "operator->"):
            if sym.startswith(op, i):
                if depth == 0:
                    out.append(op)
                i += len(op)
                break
        else:
            if c in "<(":
                if depth == 0:
                    out.append("<>" if c == "<" else "")
                depth += 1
            elif c in ">)" and depth:
                depth -= 1
            elif depth == 0:
                out.append(c)
            i += 1
    name = "".join(out).strip()
    for suffix in (" const", " &&", " &"):
        name = name.removesuffix(suffix)
    return name or sym


def _frame_name(line: str) -> str:
    """`\t    7f12ab sym+0x1f (/usr/lib/x.so)` -> `sym` (or the DSO's name
    when the symbol is unknown). Kernel frames get a `_[k]` suffix."""
    parts = line.strip().split(None, 1)
    rest = parts[1] if len(parts) > 1 else parts[0]
    dso = ""
    if rest.endswith(")") and " (" in rest:
        rest, dso = rest.rsplit(" (", 1)
        dso = dso[:-1]
    sym = simplify(_OFFSET.sub("", rest.strip()))
    if sym in ("", "[unknown]"):
        sym = f"[{dso.rsplit('/', 1)[-1]}]" if dso and dso != "[unknown]" else "[unknown]"
    if dso.startswith("[kernel") or dso == "[vdso]":
        sym += "_[k]"
    return sym.replace(";", ":")


def fold(lines: Iterable[str]) -> Counter:
    """Counts each distinct stack in `perf script` output (a header line per
    sample, `comm pid ...`, then one indented line per frame, leaf first,
    then a blank line). The thread's name is the root frame."""
    stacks: Counter = Counter()
    comm, frames = None, []

    def flush():
        if comm is not None:
            stacks[";".join([comm, *reversed(frames)])] += 1

    for line in lines:
        line = line.rstrip("\n")
        if not line.strip():
            flush()
            comm, frames = None, []
        elif line[0] in " \t":
            if comm is not None:
                frames.append(_frame_name(line))
        else:
            flush()
            # comm may contain spaces: it ends where the pid or pid/tid begins.
            m = re.match(r"(.+?)\s+\d+(?:/\d+)?\s", line + " ")
            comm, frames = (m.group(1) if m else line.split()[0]).replace(";", ":"), []
    flush()
    return stacks


def read_folded(lines: Iterable[str]) -> Counter:
    stacks: Counter = Counter()
    for line in lines:
        line = line.strip()
        if not line:
            continue
        stack, _, count = line.rpartition(" ")
        stacks[stack] += int(count)
    return stacks


# --------------------------------------------------------------------------
# folded -> SVG


class Node:
    __slots__ = ("name", "count", "children")

    def __init__(self, name: str):
        self.name, self.count, self.children = name, 0, {}


def build_tree(stacks: Counter) -> Node:
    root = Node("all")
    for stack, n in stacks.items():
        root.count += n
        node = root
        for frame in stack.split(";"):
            node = node.children.setdefault(frame, Node(frame))
            node.count += n
    return root


def _colour(name: str) -> str:
    h = hashlib.md5(name.encode()).digest()
    if name.endswith("_[k]"):
        return f"rgb({200 + h[0] % 56},{110 + h[1] % 60},{30 + h[2] % 30})"       # orange
    return f"rgb({205 + h[0] % 50},{h[1] % 200},{h[2] % 55})"                     # red-yellow


def svg(stacks: Counter, title: str, width: int = 1200, row: int = 16, min_px: float = 0.3) -> str:
    """The flame graph of `stacks` as an SVG document."""
    root = build_tree(stacks)
    total = max(root.count, 1)
    scale = (width - 20) / total
    boxes = []            # (depth, x, w, node)
    depth_max = 0

    def walk(node: Node, depth: int, x: float):
        nonlocal depth_max
        w = node.count * scale
        if w < min_px:
            return
        boxes.append((depth, x, w, node))
        depth_max = max(depth_max, depth)
        for child in sorted(node.children.values(), key=lambda c: c.name):
            walk(child, depth + 1, x)
            x += child.count * scale

    walk(root, 0, 10.0)
    height = (depth_max + 1) * row + 60
    out = [f'<?xml version="1.0" standalone="no"?>',
           f'<svg version="1.1" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
           f'xmlns="http://www.w3.org/2000/svg" font-family="Verdana, sans-serif" font-size="11">',
           f'<rect x="0" y="0" width="{width}" height="{height}" fill="#f8f8f8"/>',
           f'<text x="{width / 2}" y="22" text-anchor="middle" font-size="16">{html.escape(title)}</text>',
           f'<text x="10" y="{height - 10}" fill="#555">{total:,} samples; hover a box for its name '
           f'and share; kernel frames orange</text>']
    for depth, x, w, node in boxes:
        y = height - 30 - (depth + 1) * row
        share = 100.0 * node.count / total
        label = html.escape(f"{node.name} ({node.count:,} samples, {share:.2f}%)")
        out.append(f'<g><title>{label}</title><rect x="{x:.2f}" y="{y}" width="{max(w - 0.5, 0.1):.2f}" '
                   f'height="{row - 1}" fill="{_colour(node.name) if depth else "rgb(210,210,210)"}" rx="2"/>')
        chars = int((w - 6) / 6.5)
        if chars >= 3:
            text = node.name if len(node.name) <= chars else node.name[:chars - 2] + ".."
            out.append(f'<text x="{x + 3:.2f}" y="{y + row - 4}">{html.escape(text)}</text>')
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------

_SAMPLE = """gateway 123/124 [000] 1.000: 1 cpu-clock:
\t    ffffffff81000001 tcp_sendmsg+0x10 ([kernel.kallsyms])
\t    7f0000000001 __send+0x20 (/usr/lib/libc.so.6)
\t    555500000001 gw::Connection::serve(int)+0x30 (/work/build/gateway)
\t    7f0000000002 [unknown] (/usr/lib/libc.so.6)

gateway 123/124 [000] 1.001: 1 cpu-clock:
\t    555500000001 gw::Connection::serve(int)+0x30 (/work/build/gateway)
\t    7f0000000002 [unknown] (/usr/lib/libc.so.6)

nginx: worker 99 [001] 1.002: 1 cpu-clock:
\t    ffffffff81000002 do_syscall_64+0x5 ([kernel.kallsyms])

"""


def self_test() -> int:
    stacks = fold(_SAMPLE.splitlines(True))
    want = {
        "gateway;[libc.so.6];gw::Connection::serve;__send;tcp_sendmsg_[k]": 1,
        "gateway;[libc.so.6];gw::Connection::serve": 1,
        "nginx: worker;do_syscall_64_[k]": 1,
    }
    assert dict(stacks) == want, dict(stacks)
    folded = "".join(f"{k} {v}\n" for k, v in stacks.items())
    assert read_folded(folded.splitlines()) == stacks
    doc = svg(stacks, "self <test>")
    assert doc.count("<rect") == 1 + 8, doc.count("<rect")    # background, "all" and 7 frames
    assert "self &lt;test&gt;" in doc and "3 samples" in doc
    assert "gw::Connection::serve (2 samples, 66.67%)" in doc
    for raw, want in (("ns::f<std::vector<int>>(int) const [clone .isra.0]", "ns::f<>"),
                      ("std::function<void (int)>::operator()(int) const", "std::function<>::operator()"),
                      ("(anonymous namespace)::g(char)", "{anon}::g"),
                      ("a::operator<<(std::ostream&)", "a::operator<<")):
        assert simplify(raw) == want, (raw, simplify(raw))
    print("flamegraph.py self-test: ok")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("input", nargs="?", help="folded stacks (or perf script output with --fold); default stdin")
    ap.add_argument("--fold", action="store_true", help="read `perf script` output, write folded stacks")
    ap.add_argument("--title", default="flame graph")
    ap.add_argument("--width", type=int, default=1200)
    ap.add_argument("--self-test", action="store_true")
    args = ap.parse_args(argv)
    if args.self_test:
        return self_test()
    src = open(args.input, errors="replace") if args.input else sys.stdin
    with src:
        if args.fold:
            for stack, n in sorted(fold(src).items()):
                sys.stdout.write(f"{stack} {n}\n")
        else:
            sys.stdout.write(svg(read_folded(src), args.title, args.width))
    return 0


if __name__ == "__main__":
    sys.exit(main())
