#!/usr/bin/env python3
"""The demo page in a real browser.

Starts the demo fleet (three "channels", one "chat" and one "recommended"
sample-service instance, on ephemeral ports) and a gateway with a
configuration generated from conf/demo.yaml (same routes, caches and page;
listeners on port 0, plain and HTTPS with a certificate made here by
`openssl req`, the fleet's real ports), loads https://.../channels/42 in
headless Chromium (which takes HTTP/2 if the gateway offers it), and checks the rendered DOM: every widget is there with its
content, and no fallback is shown. A second Chromium run takes a screenshot.
A third types a message into the live chat and sees it come back over the
page's WebSocket through the gateway (live_chat.py).
Both are kept as test artifacts: demo-page.png and demo-page.dom.html in
--artifact-dir.

    demo_page_test.py --gateway BIN --sample-service BIN --source-dir DIR
                      --artifact-dir DIR [--timeout SECONDS]

Exit status: 0 passed, 1 failed, 77 skipped (no Chromium). Python standard
library only. Every process it starts is stopped (by PID) before it exits,
whatever happens; the whole test gives up after --timeout seconds.
"""

import argparse
import html.parser
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import live_chat  # noqa: E402  (next to this file)

SKIP = 77
PAGE = "/channels/42"
# name, port in conf/demo.yaml: the fleet of scripts/demo.sh.
FLEET = [("channels-9001", 9001), ("channels-9002", 9002), ("channels-9003", 9003),
         ("chat-9004", 9004), ("recommended-9005", 9005)]
WIDGETS = ["widget-channel", "widget-player", "widget-chat", "widget-recommended"]
FALLBACK_TEXTS = ["unavailable right now", "player is loading", "catching up"]
SANITIZER_MARKERS = ["ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "WARNING: ThreadSanitizer", "AddressSanitizer:DEADLYSIGNAL"]


class TestFailure(Exception):
    pass


class TimedOut(Exception):
    pass


def log(msg):
    print("demo_page_test: " + msg, flush=True)


def find_chromium():
    explicit = os.environ.get("CHROMIUM")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    for candidate in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


class Processes:
    """Every process started, stopped by PID (its own process group) at the end."""

    def __init__(self):
        self.procs = []  # (name, Popen, log path)

    def start(self, name, argv, log_path, **kwargs):
        out = open(log_path, "wb")
        try:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True, **kwargs)
        finally:
            out.close()
        self.procs.append((name, proc, log_path))
        return proc

    @staticmethod
    def stop(proc, grace=5.0):
        if proc.poll() is not None:
            return proc.returncode
        # The process leads its own group (start_new_session): the group id
        # is its PID, and holds only what it started (Chromium's helpers).
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                return proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                continue
        return proc.wait()

    def stop_all(self):
        for _, proc, _ in reversed(self.procs):
            try:
                self.stop(proc)
            except Exception as e:  # keep stopping the others
                log("could not stop pid %d: %s" % (proc.pid, e))

    def sanitizer_reports(self):
        reports = []
        for name, _, path in self.procs:
            text = read_text(path)
            for marker in SANITIZER_MARKERS:
                at = text.find(marker)
                if at >= 0:
                    reports.append("%s (%s):\n%s" % (name, path, text[max(0, text.rfind("\n", 0, at)):][:4000]))
                    break
        return reports


def read_text(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def wait_for(what, pred, timeout, interval=0.05):
    end = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() >= end:
            raise TestFailure("timed out waiting for " + what)
        time.sleep(interval)


def demo_config(source_dir, ports, cert, key):
    """conf/demo.yaml with the test's listeners (plain and TLS with cert, key),
    fleet ports and cache path."""
    with open(os.path.join(source_dir, "conf", "demo.yaml")) as f:
        text = f.read()

    def sub(pattern, repl, what, flags=re.M):
        nonlocal text
        text, n = re.subn(pattern, repl, text, flags=flags)
        if n == 0:
            raise TestFailure("conf/demo.yaml changed shape: no " + what + " to replace")

    sub(r'^listen:.*\n(?:[ \t]+.*\n)*',
        'listen: ["127.0.0.1:0", {address: "127.0.0.1:0", tls: {certificates: [{cert: "%s", key: "%s"}]}}]\n'
        % (cert, key), "top-level listen")
    sub(r'^(admin:\s*\n\s+listen:\s*)"[^"]*"', r'\1"127.0.0.1:0"', "admin listen")
    sub(r'^access_log:.*$', "access_log: stdout", "access_log")
    sub(r'^(\s+path:\s*)\S*var/cache\S*', r'\1cache', "cache path")
    sub(r'^(\s+trace:\s*)\S+', r'\1trace.bin', "trace path")
    for _, port in FLEET:
        sub(r'"127\.0\.0\.1:%d"' % port, '"127.0.0.1:%d"' % ports[port], "instance :%d" % port)
    return text


def http_get(url, timeout=10):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=timeout) as resp:
        return resp.status, resp.read().decode("utf-8", "replace")


class Dom(html.parser.HTMLParser):
    """The widget sections of the rendered page: their text, links and list items."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack = []     # open elements: (tag, classes, widget this element opened or None)
        self.widgets = {}   # widget class -> list of {text, links, items, instance}
        self.current = []   # open widget records (innermost last)
        self.fallbacks = 0  # elements with class "fallback"
        self.title = ""
        self._in_title = False
        self._link = None
        self._item = None

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if "fallback" in classes:
            self.fallbacks += 1
        opened = None
        if tag == "section" and "widget" in classes:
            for c in classes:
                if c in WIDGETS:
                    opened = {"text": "", "links": [], "items": [], "instance": a.get("data-instance")}
                    self.widgets.setdefault(c, []).append(opened)
                    self.current.append(opened)
        if tag == "a" and self.current:
            self._link = [a.get("href", ""), ""]
        if tag == "li" and self.current:
            self._item = [""]
        if tag == "title":
            self._in_title = True
        if tag not in self.VOID:
            self.stack.append((tag, opened))

    def handle_endtag(self, tag):
        while self.stack:
            t, opened = self.stack.pop()
            if opened is not None and self.current and self.current[-1] is opened:
                self.current.pop()
            if t == "a" and self._link is not None and self.current:
                self.current[-1]["links"].append(tuple(self._link))
                self._link = None
            if t == "li" and self._item is not None and self.current:
                self.current[-1]["items"].append(self._item[0].strip())
                self._item = None
            if t == "title":
                self._in_title = False
            if t == tag:
                break

    def handle_data(self, data):
        if self._in_title:
            self.title += data
        for w in self.current:
            w["text"] += data
        if self._link is not None:
            self._link[1] += data
        if self._item is not None:
            self._item[0] += data


def check_dom(dom_text):
    problems = []
    dom = Dom()
    dom.feed(dom_text)
    dom.close()
    for w in WIDGETS:
        n = len(dom.widgets.get(w, []))
        if n != 1:
            problems.append("%d sections of class %s (want 1)" % (n, w))
    if problems:
        return problems

    def widget(name):
        return dom.widgets[name][0]

    channel = widget("widget-channel")
    if "Channel 42" not in channel["text"]:
        problems.append("channel widget without 'Channel 42': %r" % channel["text"][:300])
    if "LIVE" not in channel["text"]:
        problems.append("channel widget without the LIVE badge")
    if not re.search(r"\d+ viewers", channel["text"]):
        problems.append("channel widget without a viewer count")
    if not (channel["instance"] or "").startswith("channels-"):
        problems.append("channel widget from instance %r, not a channels instance" % channel["instance"])

    player = widget("widget-player")
    if "Now playing" not in player["text"]:
        problems.append("player widget without 'Now playing': %r" % player["text"][:300])

    chat = widget("widget-chat")
    lines = [i for i in chat["items"] if re.match(r"^\S+: .+", i)]
    if "Stream chat" not in chat["text"] or len(lines) < 3:
        problems.append("chat widget with %d chat lines (want >= 3): %r" % (len(lines), chat["items"]))
    if chat["instance"] != "chat-9004":
        problems.append("chat widget from instance %r" % chat["instance"])

    rec = widget("widget-recommended")
    links = [(href, text.strip()) for href, text in rec["links"]
             if re.fullmatch(r"/channels/\d+", href) and text.strip() == "Channel " + href.rsplit("/", 1)[1]]
    if "Recommended channels" not in rec["text"] or len(links) < 3:
        problems.append("recommended widget with %d channel links (want >= 3): %r" % (len(links), rec["links"]))
    if rec["instance"] != "recommended-9005":
        problems.append("recommended widget from instance %r" % rec["instance"])

    if dom.fallbacks:
        problems.append("%d fallback element(s) shown" % dom.fallbacks)
    for text in FALLBACK_TEXTS:
        if text in dom_text:
            problems.append("fallback text %r in the page" % text)
    if "<!--#" in dom_text or "esi:include" in dom_text:
        problems.append("an include tag reached the browser")
    if "Channel" not in dom.title:
        problems.append("page title %r" % dom.title)
    return problems


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        raise TestFailure("%s is not a PNG" % path)
    return struct.unpack(">II", head[16:24])


def chromium_argv(chromium, profile, extra):
    return [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-proxy-server", "--ignore-certificate-errors", "--user-data-dir=" + profile, "--window-size=1400,900"] + extra


def run_chromium(procs, chromium, tmp, name, extra, timeout):
    profile = tempfile.mkdtemp(prefix="profile-", dir=tmp)
    out_path = os.path.join(tmp, name + ".out")
    err_path = os.path.join(tmp, name + ".err")
    env = dict(os.environ, HOME=profile)
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen(chromium_argv(chromium, profile, extra), stdout=out, stderr=err,
                                stdin=subprocess.DEVNULL, start_new_session=True, env=env)
    procs.procs.append((name, proc, err_path))
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        Processes.stop(proc)
        raise TestFailure("chromium (%s) did not finish in %ds; stderr:\n%s" % (name, timeout, read_text(err_path)[-3000:]))
    finally:
        Processes.stop(proc)
        try:  # helpers left in its process group, if any
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    if rc != 0:
        raise TestFailure("chromium (%s) exited %d; stderr:\n%s" % (name, rc, read_text(err_path)[-3000:]))
    return read_text(out_path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gateway", required=True)
    ap.add_argument("--sample-service", required=True)
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--artifact-dir", required=True)
    ap.add_argument("--timeout", type=int, default=180, help="give up after this many seconds (default 180)")
    args = ap.parse_args()

    chromium = find_chromium()
    if not chromium:
        print("SKIPPED: Chromium not found (/usr/bin/chromium; set CHROMIUM=path, or install Debian's "
              "'chromium' package: scripts/setup.sh test)", flush=True)
        return SKIP
    for binary in (args.gateway, args.sample_service):
        if not os.access(binary, os.X_OK):
            log("not executable: " + binary)
            return 1

    def on_alarm(signum, frame):
        raise TimedOut("the test did not finish in %d s" % args.timeout)

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(args.timeout)
    # ctest or a user stopping the test: still stop every process.
    def on_term(signum, frame):
        raise KeyboardInterrupt()

    signal.signal(signal.SIGTERM, on_term)

    tmp = tempfile.mkdtemp(prefix="demo-page-test-")
    procs = Processes()
    ok = False
    try:
        # The fleet, each on a port of its own choosing.
        ports = {}
        for name, demo_port in FLEET:
            port_file = os.path.join(tmp, name + ".port")
            procs.start(name, [args.sample_service, "--port", "0", "--name", name, "--port-file", port_file],
                        os.path.join(tmp, name + ".log"))
            ports[demo_port] = port_file
        for demo_port, port_file in list(ports.items()):
            text = wait_for("port file " + port_file, lambda: read_text(port_file).strip(), 15)
            ports[demo_port] = int(text)

        # The gateway, on conf/demo.yaml with the fleet's ports and the page next to it.
        config_path = os.path.join(tmp, "demo.yaml")
        cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", key, "-out", cert], check=True, capture_output=True, timeout=60)
        with open(config_path, "w") as f:
            f.write(demo_config(args.source_dir, ports, cert, key))
        os.makedirs(os.path.join(tmp, "pages"))
        shutil.copy(os.path.join(args.source_dir, "conf", "pages", "channel.html"),
                    os.path.join(tmp, "pages", "channel.html"))
        gw_err = os.path.join(tmp, "gateway.err")
        with open(gw_err, "wb") as err, open(os.path.join(tmp, "gateway.out"), "wb") as out:
            gw = subprocess.Popen([args.gateway, "-c", config_path], stdout=out, stderr=err,
                                  stdin=subprocess.DEVNULL, start_new_session=True)
        procs.procs.append(("gateway", gw, gw_err))

        def gateway_ports():
            if gw.poll() is not None:
                raise TestFailure("gateway exited %d:\n%s" % (gw.returncode, read_text(gw_err)))
            plain = re.search(r"(?<!admin )listening on 127\.0\.0\.1:(\d+) \(\d", read_text(gw_err))
            tls = re.search(r"(?<!admin )listening on 127\.0\.0\.1:(\d+) \(tls", read_text(gw_err))
            return (int(plain.group(1)), int(tls.group(1))) if plain and tls else None

        port, tls_port = wait_for("the gateway's 'listening on' lines", gateway_ports, 20)
        page_url = "https://127.0.0.1:%d%s" % (tls_port, PAGE)
        log("gateway on ports %d and %d (TLS), fleet on %s" % (port, tls_port, sorted(ports.values())))

        # What the browser will get, fetched once plainly (and the fragment
        # caches warmed, as for any visitor after the first).
        plain_url = "http://127.0.0.1:%d%s" % (port, PAGE)
        status, body = http_get(plain_url)
        if status != 200 or "widget-channel" not in body:
            raise TestFailure("GET %s: %d\n%s" % (plain_url, status, body[:2000]))

        dom_text = run_chromium(procs, chromium, tmp, "dump-dom", ["--dump-dom", page_url], 90)
        os.makedirs(args.artifact_dir, exist_ok=True)
        with open(os.path.join(args.artifact_dir, "demo-page.dom.html"), "w") as f:
            f.write(dom_text)
        problems = check_dom(dom_text)
        if problems:
            raise TestFailure("the rendered page is not right:\n  " + "\n  ".join(problems) +
                              "\n--- DOM ---\n" + dom_text[:6000])
        log("DOM: four widgets with their content, no fallback")
        # Chromium took HTTP/2 (ALPN h2 on the TLS listener): its request is
        # logged with that protocol.
        gw_out = os.path.join(tmp, "gateway.out")
        wait_for("the page's HTTP/2 line in the access log",
                 lambda: re.search(r'"GET %s HTTP/2\.0" 200 ' % re.escape(PAGE), read_text(gw_out)), 10)
        log("the browser loaded the page over HTTPS and HTTP/2")

        shot = os.path.join(args.artifact_dir, "demo-page.png")
        if os.path.exists(shot):
            os.remove(shot)
        run_chromium(procs, chromium, tmp, "screenshot", ["--screenshot=" + shot, "--hide-scrollbars", page_url], 90)
        if not os.path.exists(shot):
            raise TestFailure("chromium wrote no screenshot at " + shot)
        width, height = png_size(shot)
        if (width, height) != (1400, 900) or os.path.getsize(shot) < 10_000:
            raise TestFailure("screenshot %s is %dx%d, %d bytes" % (shot, width, height, os.path.getsize(shot)))
        log("screenshot: " + shot)

        # The live chat: a message typed on the page goes out on its
        # WebSocket through the gateway and comes back (tests/browser/live_chat.py).
        message = "hello from chromium %d" % os.getpid()
        try:
            name, lines = live_chat.check_live_chat(lambda profile, extra: chromium_argv(chromium, profile, extra),
                                                    procs, tmp, page_url, message)
        except live_chat.CdpError as e:
            raise TestFailure("live chat: %s" % e)
        wait_for("the tunnel's line in the access log",
                 lambda: re.search(r'"GET /chat/ws\?name=%s HTTP/1\.1" 101 .*tunnel_end=' % re.escape(name),
                                   read_text(gw_out)), 10)
        log("live chat: %r came back through the gateway's WebSocket tunnel (%d line(s))" % (message, len(lines)))

        if gw.poll() is not None:
            raise TestFailure("the gateway exited during the test:\n" + read_text(gw_err))
        ok = True
    except (TestFailure, TimedOut) as e:
        log("FAILED: %s" % e)
    except KeyboardInterrupt:
        log("interrupted")
    finally:
        signal.alarm(0)
        procs.stop_all()
        reports = procs.sanitizer_reports()
        for r in reports:
            log("sanitizer report from " + r)
        if reports:
            ok = False
        if ok:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            log("logs kept in " + tmp)
            for name, _, path in procs.procs:
                if name == "gateway":
                    log("gateway stderr (tail):\n" + read_text(path)[-3000:])
    log("PASSED" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
