"""Memory per idle keep-alive connection. Split out of bench/compare.py."""
from __future__ import annotations

import re
import socket
import time
from typing import Optional

from benchkit import HOST


# --------------------------------------------------------------------------
# Memory per idle keep-alive connection.

class ClosedBeforeResponse(ConnectionError):
    """The server closed the connection before sending any byte of a response
    (a keep-alive connection it let go: a client may send again)."""


def read_response_head(sock: socket.socket) -> tuple[int, bytes]:
    """Reads one response with a Content-Length body; its status and head."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            if not buf:
                raise ClosedBeforeResponse("closed before the response")
            raise ConnectionError("closed inside the response head")
        buf += chunk
    head, body = buf.split(b"\r\n\r\n", 1)
    status = int(head.split(b" ", 2)[1])
    m = re.search(rb"\r\ncontent-length:\s*(\d+)", head, re.I)
    if not m:
        raise ConnectionError(f"{status} without Content-Length")
    need = int(m.group(1)) - len(body)
    while need > 0:
        chunk = sock.recv(min(need, 65536))
        if not chunk:
            raise ConnectionError("closed inside the body")
        need -= len(chunk)
    return status, head


def _read_response(sock: socket.socket) -> int:
    return read_response_head(sock)[0]


# One client address has ~28k ephemeral ports (net.ipv4.ip_local_port_range):
# beyond this many connections they come from 127.0.0.1, .2, .3, ...
PER_SOURCE_IP = 20000
IP_BIND_ADDRESS_NO_PORT = 24     # linux/in.h: pick the port at connect(), by 4-tuple


def client_connection(port: int, i: int, n: int) -> socket.socket:
    """The i-th of n client connections to HOST:port; over PER_SOURCE_IP of
    them, spread over source addresses 127.0.0.1..k (loopback answers them
    all), each bound without a port so that the kernel picks it per 4-tuple."""
    if n <= PER_SOURCE_IP:
        return socket.create_connection((HOST, port), timeout=5)
    s = socket.socket()
    try:
        s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        s.bind((f"127.0.0.{1 + i // PER_SOURCE_IP}", 0))
        s.settimeout(5)
        s.connect((HOST, port))
    except OSError:
        s.close()
        raise
    return s


def idle_connection_memory(target: Target, path: str, n: int, settle: float = 1.0,
                           deadline_s: Optional[float] = None) -> dict:
    """Open n keep-alive connections, one request on each, leave them idle,
    and report the RSS growth per connection. Bounded by deadline_s
    (default: 120 s, or 4 ms per connection if more)."""
    deadline_s = deadline_s or max(120.0, n * 0.004)
    req = f"GET {path} HTTP/1.1\r\nHost: {HOST}:{target.port}\r\n\r\n".encode()
    # Warm up first (upstream pool, lazily allocated structures), on one connection.
    with socket.create_connection((HOST, target.port), timeout=5) as s:
        for _ in range(50):
            s.sendall(req)
            _read_response(s)
    time.sleep(settle)
    before = target.rss()
    socks: list[socket.socket] = []
    deadline = time.monotonic() + deadline_s
    try:
        for _ in range(n):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{target.name}: idle-connection test over {deadline_s}s")
            s = client_connection(target.port, len(socks), n)
            socks.append(s)
            s.sendall(req)
            if _read_response(s) != 200:
                raise RuntimeError(f"{target.name}: non-200 in the idle-connection test")
        time.sleep(settle)
        after = target.rss()
        # Still open? A socket the server closed reads as EOF without blocking.
        still_open = 0
        for s in socks:
            s.setblocking(False)
            try:
                if s.recv(1, socket.MSG_PEEK) == b"":
                    continue                 # EOF: the server closed it
            except BlockingIOError:
                pass                         # nothing to read: open and idle
            except OSError:
                continue                     # reset
            still_open += 1
    finally:
        for s in socks:
            s.close()
    return {"connections": n, "still_open": still_open, "rss_before": before,
            "rss_after": after, "bytes_per_connection": (after - before) / n}
