"""The soak's HTTP/1.1 client: raw sockets, so that it can pipeline, read
slowly, abort an upload midway, and tell a connection that closed before any
byte of the answer from one that broke mid-answer. Standard library only;
used by bench/soak.py.

Every read has a deadline (monotonic seconds): past it the exchange ends as
NoAnswer("timeout"), so no client thread can wait longer than the bound it
was given.
"""
from __future__ import annotations

import dataclasses
import socket
import time
from typing import Optional


class NoAnswer(Exception):
    """The exchange ended without a complete response. kind: refused (the
    gateway did not accept), reset or closed (before any byte of the
    response), truncated (after some), timeout (past the deadline), garbled
    (not HTTP)."""

    def __init__(self, kind: str):
        super().__init__(kind)
        self.kind = kind


@dataclasses.dataclass
class Response:
    status: int
    headers: dict[str, str]         # lower-case names; repeated fields joined with ", "
    body: bytes
    trailers: dict[str, str]
    close: bool                     # the connection cannot carry another request


def _fields(lines: list[bytes]) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in lines:
        name, _, value = line.partition(b":")
        k, v = name.strip().lower().decode("latin-1"), value.strip().decode("latin-1")
        out[k] = f"{out[k]}, {v}" if k in out else v
    return out


class Conn:
    """One client connection. `pace` = (bytes, seconds): read at most that
    many bytes per recv, then sleep (a slow reader); `slept` adds up the
    sleeping, so the caller can extend its bound by the time it chose to
    waste. `rcvbuf` shrinks the socket's receive buffer so that a slow reader
    really pushes back instead of the kernel buffering the whole answer."""

    def __init__(self, host: str, port: int, timeout: float = 5.0, rcvbuf: Optional[int] = None,
                 pace: Optional[tuple[int, float]] = None, linger_rst: bool = False):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if linger_rst:   # close() sends RST, as a crashed client would
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect((host, port))
        except OSError:
            self.sock.close()
            raise NoAnswer("refused")
        self.buf = bytearray()
        self.pace = pace
        self.slept = 0.0
        self._rx = 0             # bytes of the current response seen so far

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data: bytes):
        try:
            self.sock.sendall(data)
        except socket.timeout:
            raise NoAnswer("timeout")
        except OSError:
            raise NoAnswer("reset")

    def _more(self, deadline: float):
        left = deadline - time.monotonic()
        if left <= 0:
            raise NoAnswer("timeout")
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(self.pace[0] if self.pace else 65536)
        except socket.timeout:
            raise NoAnswer("timeout")
        except OSError:
            raise NoAnswer("reset")
        if not data:
            raise NoAnswer("closed")
        self.buf += data
        self._rx += len(data)
        if self.pace:
            time.sleep(self.pace[1])
            self.slept += self.pace[1]

    def _line(self, deadline: float) -> bytes:
        while (at := self.buf.find(b"\r\n")) < 0:
            if len(self.buf) > 65536:
                raise NoAnswer("garbled")
            self._more(deadline)
        line = bytes(self.buf[:at])
        del self.buf[:at + 2]
        return line

    def _exact(self, n: int, deadline: float) -> bytes:
        while len(self.buf) < n:
            self._more(deadline)
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def _head(self, deadline: float) -> tuple[int, dict[str, str]]:
        while True:
            parts = self._line(deadline).split(b" ", 2)
            if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
                raise NoAnswer("garbled")
            status, lines = int(parts[1]), []
            while line := self._line(deadline):
                lines.append(line)
            if not 100 <= status < 200:    # interim answers (100 Continue, 103) are skipped
                return status, _fields(lines)

    def _chunked(self, deadline: float) -> tuple[bytes, dict[str, str]]:
        chunks = []
        while True:
            try:
                size = int(self._line(deadline).split(b";")[0], 16)
            except ValueError:
                raise NoAnswer("garbled")
            if size == 0:
                break
            chunks.append(self._exact(size, deadline))
            if self._exact(2, deadline) != b"\r\n":
                raise NoAnswer("garbled")
        trailers = []
        while line := self._line(deadline):
            trailers.append(line)
        return b"".join(chunks), _fields(trailers)

    def response(self, deadline: float, head_request: bool = False) -> Response:
        """Reads one response; raises NoAnswer. A connection closed or reset
        after part of the response is "truncated"."""
        self._rx = len(self.buf)
        try:
            status, headers = self._head(deadline)
            body, trailers, close = b"", {}, "close" in headers.get("connection", "").lower()
            if head_request or status in (204, 304):
                pass
            elif "chunked" in headers.get("transfer-encoding", "").lower():
                body, trailers = self._chunked(deadline)
            elif "content-length" in headers:
                body = self._exact(int(headers["content-length"]), deadline)
            else:   # delimited by the close
                try:
                    while True:
                        self._more(deadline)
                except NoAnswer as e:
                    if e.kind != "closed":
                        raise
                body, close = bytes(self.buf), True
                self.buf.clear()
            return Response(status, headers, body, trailers, close)
        except NoAnswer as e:
            if self._rx and e.kind in ("closed", "reset"):
                raise NoAnswer("truncated")
            raise


def request_bytes(method: str, target: str, agent: str, body: bytes = b"", host: str = "soak.test",
                  extra: str = "") -> bytes:
    head = f"{method} {target} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {agent}\r\n{extra}"
    if body or method in ("POST", "PUT", "PATCH"):
        head += f"Content-Type: application/octet-stream\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body
