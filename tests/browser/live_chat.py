"""The demo page's live chat in a real browser, for demo_page_test.py.

Opens the page in headless Chromium with the DevTools protocol on, types a
message into the live chat's input (Input.insertText, then Enter, as a user
would), and waits until the message comes back on the page: it went out on
the page's WebSocket through the gateway's /chat/ws tunnel to the chat
instance, which sends every message to everyone connected, the sender
included. The DevTools protocol is spoken over a minimal RFC 6455 client
(Python standard library only).
"""

import base64
import json
import os
import re
import socket
import struct
import subprocess
import tempfile
import time
import urllib.request


class CdpError(Exception):
    pass


class CdpSocket:
    """One DevTools WebSocket: masked text frames out, JSON messages in."""

    def __init__(self, ws_url, timeout):
        m = re.match(r"ws://([^/:]+):(\d+)(/.*)", ws_url)
        if not m:
            raise CdpError("not a ws:// URL: " + ws_url)
        host, port, path = m.group(1), int(m.group(2)), m.group(3)
        self.sock = socket.create_connection((host, port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (path, host, port, key))
                          .encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            self._recv()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise CdpError("DevTools handshake refused: " + head.decode("latin-1"))
        self.next_id = 0

    def close(self):
        self.sock.close()

    def _recv(self):
        data = self.sock.recv(65536)
        if not data:
            raise CdpError("DevTools connection closed")
        self.buf += data

    def _need(self, n):
        while len(self.buf) < n:
            self._recv()

    def send(self, obj):
        payload = json.dumps(obj).encode()
        n = len(payload)
        if n < 126:
            header = bytes([0x81, 0x80 | n])
        elif n < 65536:
            header = bytes([0x81, 0x80 | 126]) + struct.pack(">H", n)
        else:
            header = bytes([0x81, 0x80 | 127]) + struct.pack(">Q", n)
        mask = os.urandom(4)
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def receive(self):
        message = b""
        while True:
            self._need(2)
            b0, b1 = self.buf[0], self.buf[1]
            n, at = b1 & 0x7F, 2
            if n == 126:
                self._need(4)
                n, at = struct.unpack(">H", self.buf[2:4])[0], 4
            elif n == 127:
                self._need(10)
                n, at = struct.unpack(">Q", self.buf[2:10])[0], 10
            self._need(at + n)
            payload, self.buf = self.buf[at:at + n], self.buf[at + n:]
            opcode = b0 & 0x0F
            if opcode == 0x8:
                raise CdpError("DevTools connection closed")
            if opcode in (0x0, 0x1):
                message += payload
                if b0 & 0x80:
                    return json.loads(message)

    def call(self, method, params=None):
        self.next_id += 1
        self.send({"id": self.next_id, "method": method, "params": params or {}})
        while True:
            reply = self.receive()
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise CdpError("%s: %s" % (method, reply["error"]))
                return reply.get("result", {})

    def evaluate(self, expression):
        r = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in r:
            raise CdpError("page script failed: %s" % r["exceptionDetails"])
        return r.get("result", {}).get("value")


def page_socket_url(devtools_port, page_url, timeout):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with opener.open("http://127.0.0.1:%d/json/list" % devtools_port, timeout=5) as resp:
            for target in json.loads(resp.read()):
                if target.get("type") == "page" and target.get("url", "").startswith(page_url):
                    return target["webSocketDebuggerUrl"]
        time.sleep(0.1)
    raise CdpError("no DevTools target for " + page_url)


def wait_value(cdp, expression, timeout, what):
    end = time.monotonic() + timeout
    while True:
        value = cdp.evaluate(expression)
        if value:
            return value
        if time.monotonic() >= end:
            raise CdpError("timed out waiting for " + what)
        time.sleep(0.1)


def check_live_chat(chromium_argv, procs, tmp, page_url, message, timeout=60):
    """Types `message` into the live chat and waits for it to come back on
    the page. Returns (the viewer's name, the chat lines). `procs` is the
    test's process list (the browser is stopped by PID whatever happens)."""
    profile = tempfile.mkdtemp(prefix="profile-", dir=tmp)
    err_path = os.path.join(tmp, "live-chat.err")
    with open(err_path, "wb") as err:
        browser = subprocess.Popen(chromium_argv(profile, ["--remote-debugging-port=0", page_url]),
                                   stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL,
                                   start_new_session=True, env=dict(os.environ, HOME=profile))
    procs.procs.append(("live-chat browser", browser, err_path))
    end = time.monotonic() + timeout
    port = None
    while port is None:
        with open(err_path, "rb") as f:
            m = re.search(rb"DevTools listening on ws://127\.0\.0\.1:(\d+)/", f.read())
        if m:
            port = int(m.group(1))
        elif browser.poll() is not None or time.monotonic() >= end:
            raise CdpError("Chromium gave no DevTools port")
        else:
            time.sleep(0.05)
    cdp = CdpSocket(page_socket_url(port, page_url, timeout), timeout)
    try:
        name = wait_value(cdp, "(function(){var s=document.getElementById('live-state');"
                               "return s && s.textContent.indexOf('live as ')===0 ? s.textContent.slice(8) : null})()",
                          timeout, "the live chat to connect")
        cdp.evaluate("document.getElementById('live-input').focus(), true")
        cdp.call("Input.insertText", {"text": message})
        for kind in ("keyDown", "keyUp"):
            cdp.call("Input.dispatchKeyEvent", {"type": kind, "key": "Enter", "code": "Enter",
                                                "windowsVirtualKeyCode": 13, "text": "\r" if kind == "keyDown" else ""})
        expected = "%s: %s" % (name, message)
        lines = wait_value(cdp, "(function(){var l=[].map.call(document.querySelectorAll('#live-lines li'),"
                                "function(li){return li.textContent});return l.indexOf(%s)>=0 ? l : null})()"
                                % json.dumps(expected), timeout, "%r on the page" % expected)
        typed_left = cdp.evaluate("document.getElementById('live-input').value")
        if typed_left:
            raise CdpError("the input still holds %r: the message was not sent by the form" % typed_left)
        return name, lines
    finally:
        cdp.close()
        procs.stop(browser)
