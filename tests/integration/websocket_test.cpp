// WebSocket and other upgrades through the gateway (issue 11, item 4): the
// gateway stripped Upgrade and turned an instance's 101 into a 502. A route
// with `upgrade: [websocket]` now forwards the upgrade on a fresh upstream
// connection and, after the instance's 101, carries bytes both ways (plain
// and TLS listeners), closes an idle tunnel after timeouts.tunnel_idle,
// closes open ones on SIGTERM after timeouts.tunnel_drain, logs each once and
// counts them in /metrics. Elsewhere, Upgrade is dropped as before.
#include <doctest/doctest.h>

#include <csignal>
#include <string>

#include "harness.hpp"
#include "harness_tls.hpp"
#include "harness_ws.hpp"

using namespace itest;

namespace {

// The chat route of sample-service, upgradable, and a plain route to it.
std::string chat_yaml(const SampleService& svc, const std::string& timeouts = "") {
  return "workers: 2\n" + timeouts + "upstreams:\n  chat:\n    instances: [\"" + svc.address() +
         "\"]\nroutes:\n  - {prefix: /chat/ws, upstream: chat, upgrade: [websocket]}\n"
         "  - {prefix: /, upstream: chat}\n";
}

std::string tunnel_yaml(const std::string& address, const std::string& upgrade = "upgrade: [websocket]",
                        const std::string& extra = "") {
  return "workers: 1\n" + extra + "upstreams:\n  app:\n    instances: [\"" + address +
         "\"]\n    retries: 0\nroutes:\n  - {prefix: /, upstream: app, " + upgrade + "}\n";
}

double metric_or_zero(const std::string& text, const std::string& series) { return metric(text, series).value_or(0); }

// Alice and Bob in the chat through `port`: Alice's message comes back to
// her and reaches Bob, as the instance's JSON.
void check_echo_and_broadcast(std::uint16_t port, bool tls) {
  WsClient::Options o;
  o.tls = tls;
  WsClient alice(port, "/chat/ws?name=alice", o);
  WsClient bob(port, "/chat/ws?name=bob", o);
  REQUIRE_MESSAGE(alice.open(), std::string(alice.head() + alice.error()));
  REQUIRE_MESSAGE(bob.open(), std::string(bob.head() + bob.error()));
  // Bob is in the room once his own message comes back to him.
  REQUIRE(bob.send_text("bob here"));
  REQUIRE(bob.read_text() == std::optional<std::string>(R"({"from":"bob","text":"bob here","instance":"chat"})"));
  REQUIRE(alice.read_text() == std::optional<std::string>(R"({"from":"bob","text":"bob here","instance":"chat"})"));
  REQUIRE(alice.send_text("hello \"world\""));
  const std::string expected = R"({"from":"alice","text":"hello \"world\"","instance":"chat"})";
  CHECK(alice.read_text() == expected);  // the echo
  CHECK(bob.read_text() == expected);    // the broadcast
  // A message larger than one read of the tunnel's buffer, both ways.
  std::string big(70000 / 2, 'x');
  REQUIRE(bob.send_text(big));
  auto got = alice.read_text();
  REQUIRE(got);
  CHECK(got->size() == big.size() + std::string(R"({"from":"bob","text":"","instance":"chat"})").size());
}

}  // namespace

TEST_CASE("websocket: a message goes through the gateway to its sender and to every other client of the instance") {
  TempDir dir;
  SampleService svc(dir, "chat");
  Gateway gw(dir, chat_yaml(svc));
  check_echo_and_broadcast(gw.port(), false);
}

TEST_CASE("websocket: echo and broadcast work the same through a TLS listener") {
  TempDir dir;
  TestPki pki(dir);
  auto cert = pki.issue("site", {"localhost"});
  SampleService svc(dir, "chat");
  EdgeGateway gw(dir,
                 "listen:\n  - address: \"127.0.0.1:0\"\n    tls:\n      certificates:\n        - {cert: \"" +
                     cert.cert + "\", key: \"" + cert.key + "\"}\n",
                 chat_yaml(svc));
  check_echo_and_broadcast(gw.port(), true);
}

TEST_CASE("websocket: the 101 reaches the client with Upgrade and Connection, and the instance got both") {
  TempDir dir;
  TunnelServer up;
  Gateway gw(dir, tunnel_yaml(up.address()));
  WsClient ws(gw.port(), "/socket");
  REQUIRE_MESSAGE(ws.status() == 101, ws.head());
  CHECK(head_header(ws.head(), "Upgrade") == std::optional<std::string>("websocket"));
  CHECK(head_header(ws.head(), "Connection") == std::optional<std::string>("upgrade"));
  REQUIRE(up.heads().size() == 1);
  const std::string head = up.heads()[0];
  CHECK(head_header(head, "Upgrade") == std::optional<std::string>("websocket"));
  CHECK(head_header(head, "Connection") == std::optional<std::string>("upgrade"));
  CHECK(head_header(head, "Sec-WebSocket-Key") == std::optional<std::string>("dGhlIHNhbXBsZSBub25jZQ=="));
}

TEST_CASE("websocket: bytes that follow either head, in the same packet, cross the tunnel first") {
  TempDir dir;
  // The instance says hello in the very write of its 101.
  TunnelServer up("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nHELLO");
  Gateway gw(dir, tunnel_yaml(up.address()));
  WsClient::Options o;
  o.handshake = false;
  WsClient c(gw.port(), "/", o);
  // The client's first tunnel bytes in the write of its request head.
  REQUIRE(c.send_raw("GET /raw HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nearly"));
  auto head = c.read_head();
  REQUIRE_MESSAGE(head.rfind("HTTP/1.1 101", 0) == 0, head);
  CHECK(c.read_raw(5) == "HELLO");
  CHECK(c.read_raw(5) == "early");  // echoed by the instance
  REQUIRE(c.send_raw("later"));
  CHECK(c.read_raw(5) == "later");
}

TEST_CASE("websocket: an Upgrade on a route without upgrade: is not tunnelled, as nginx does") {
  TempDir dir;
  TunnelServer up;
  Gateway gw(dir, tunnel_yaml(up.address(), "name: plain"));
  WsClient ws(gw.port(), "/socket");
  CHECK(ws.status() == 200);  // an ordinary answer: the instance saw no Upgrade
  REQUIRE(up.heads().size() == 1);
  CHECK_FALSE(head_header(up.heads()[0], "Upgrade"));
  CHECK(metric_or_zero(gw.metrics(), "gateway_tunnels_total") == 0);
}

TEST_CASE("websocket: a protocol the route does not list is not tunnelled") {
  TempDir dir;
  TunnelServer up;
  Gateway gw(dir, tunnel_yaml(up.address(), "upgrade: [other]"));
  WsClient ws(gw.port(), "/socket");
  CHECK(ws.status() == 200);
  REQUIRE(up.heads().size() == 1);
  CHECK_FALSE(head_header(up.heads()[0], "Upgrade"));
}

TEST_CASE("websocket: the instance's non-101 answer to an upgrade passes through as an ordinary response") {
  TempDir dir;
  CaptureServer up("HTTP/1.1 403 Forbidden\r\nContent-Length: 5\r\n\r\nnope\n");
  Gateway gw(dir, tunnel_yaml(up.address()));
  RawConnection c(gw.port());
  REQUIRE(c.send("GET /socket HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
                 "GET /next HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto rs = parse_responses(c.read_responses(2));
  REQUIRE(rs.size() == 2);  // and the connection went on with HTTP
  CHECK(rs[0].status == 403);
  CHECK(rs[0].body == "nope\n");
  CHECK_FALSE(head_header(rs[0].head, "Upgrade"));
  CHECK(rs[1].status == 403);
  REQUIRE(up.requests().size() == 2);
  CHECK(head_header(up.requests()[0], "Upgrade") == std::optional<std::string>("websocket"));
  CHECK_FALSE(head_header(up.requests()[1], "Upgrade"));
}

TEST_CASE("websocket: a 101 naming a protocol the request did not offer is a 502") {
  TempDir dir;
  TunnelServer up("HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n");
  Gateway gw(dir, tunnel_yaml(up.address()));
  WsClient ws(gw.port(), "/socket");
  CHECK(ws.status() == 502);
}

TEST_CASE("websocket: a tunnel gets a fresh upstream connection and it never returns to the pool") {
  TempDir dir;
  TunnelServer up;
  Gateway gw(dir, tunnel_yaml(up.address()));
  CHECK(http_get(url(gw.port(), "/a")).status == 200);  // one kept-alive connection
  REQUIRE(up.connections() == 1);
  {
    WsClient ws(gw.port(), "/socket");
    REQUIRE(ws.status() == 101);
    CHECK(up.connections() == 2);  // not the pooled one
    REQUIRE(ws.send_raw("ping"));
    CHECK(ws.read_raw(4) == "ping");
  }
  // The client left: the tunnel's upstream connection is closed, not pooled.
  CHECK(eventually([&] { return up.open_connections() == 1; }));
  CHECK(http_get(url(gw.port(), "/b")).status == 200);
  CHECK(http_get(url(gw.port(), "/c")).status == 200);
  CHECK(up.connections() == 2);  // the pooled one served both
}

TEST_CASE("websocket: /metrics counts open tunnels, tunnels and bytes each way, and the access log has one line") {
  TempDir dir;
  TunnelServer up;
  Gateway gw(dir, "access_log: stdout\n" + tunnel_yaml(up.address()));
  {
    WsClient ws(gw.port(), "/socket");
    REQUIRE(ws.status() == 101);
    REQUIRE(ws.send_raw("0123456789"));
    CHECK(ws.read_raw(10) == "0123456789");
    auto m = gw.metrics();
    CHECK(metric_or_zero(m, "gateway_tunnels_active") == 1);
    CHECK(metric_or_zero(m, "gateway_tunnels_total") == 1);
    CHECK(metric_or_zero(m, R"(gateway_tunnel_bytes_total{direction="from_client"})") == 10);
    CHECK(metric_or_zero(m, R"(gateway_tunnel_bytes_total{direction="to_client"})") == 10);
    CHECK(count_of(gw.access_log(), "\"GET /socket HTTP/1.1\" 101") == 0);  // not before it ends
  }
  CHECK(eventually([&] { return metric_or_zero(gw.metrics(), "gateway_tunnels_active") == 0; }));
  auto m = gw.metrics();
  CHECK(metric_or_zero(m, R"(gateway_tunnels_closed_total{reason="client_closed"})") == 1);
  CHECK(eventually([&] { return count_of(gw.access_log(), "\"GET /socket HTTP/1.1\" 101 10 ") == 1; }));
  CHECK(count_of(gw.access_log(), "tunnel_in=10 tunnel_end=client_closed") == 1);
}

TEST_CASE("websocket: a tunnel with no byte either way for tunnel_idle is closed, and counted") {
  TempDir dir;
  TunnelServer up;
  Gateway gw(dir, tunnel_yaml(up.address(), "upgrade: [websocket]", "timeouts: {tunnel_idle: 1s}\n"));
  WsClient ws(gw.port(), "/socket");
  REQUIRE(ws.status() == 101);
  // Traffic keeps it open past the timeout...
  for (int i = 0; i < 3; ++i) {
    struct timespec ts{0, 500'000'000};
    nanosleep(&ts, nullptr);  // the idle time is the subject here
    REQUIRE(ws.send_raw("x"));
    REQUIRE(ws.read_raw(1) == "x");
  }
  // ... and silence closes it, within the timeout and a tick or two.
  auto start = std::chrono::steady_clock::now();
  CHECK(ws.closed_by_peer(5s));
  auto took = std::chrono::steady_clock::now() - start;
  CHECK(took >= 900ms);
  CHECK(took < 3s);
  CHECK(eventually([&] {
    return metric_or_zero(gw.metrics(), R"(gateway_tunnels_closed_total{reason="idle"})") == 1;
  }));
  CHECK(eventually([&] { return up.open_connections() == 0; }));
}

TEST_CASE("websocket: SIGTERM closes an open tunnel after tunnel_drain and the gateway exits 0 well before shutdown") {
  TempDir dir;
  SampleService svc(dir, "chat");
  Gateway gw(dir, "access_log: stdout\n" + chat_yaml(svc, "timeouts: {tunnel_drain: 500ms, shutdown: 20s}\n"));
  WsClient ws(gw.port(), "/chat/ws?name=carol");
  REQUIRE(ws.open());
  REQUIRE(ws.send_text("still here"));
  REQUIRE(ws.read_text());
  auto start = std::chrono::steady_clock::now();
  gw.process().signal(SIGTERM);
  // Within the grace the tunnel still works.
  REQUIRE(ws.send_text("last words"));
  CHECK(ws.read_text() == std::optional<std::string>(R"({"from":"carol","text":"last words","instance":"chat"})"));
  CHECK(ws.closed_by_peer(10s));
  auto code = gw.process().wait_exit(10s);
  auto took = std::chrono::steady_clock::now() - start;
  REQUIRE(code);
  CHECK(*code == 0);
  CHECK(took < 5s);
  CHECK(count_of(gw.access_log(), "tunnel_end=drained") == 1);
  CHECK(count_of(gw.error_log(), "drain deadline passed") == 0);
}

TEST_CASE("websocket: an upgrade on a cached route is never cached") {
  TempDir dir;
  TunnelServer up;
  Gateway gw(dir, tunnel_yaml(up.address(), "upgrade: [websocket], cache: {zone: main, ttl: 60s}",
                              "caches:\n  main: {path: \"" + dir.file("cache") + "\"}\n"));
  for (int i = 0; i < 2; ++i) {
    WsClient ws(gw.port(), "/socket");
    REQUIRE(ws.status() == 101);
    CHECK_FALSE(head_header(ws.head(), "X-Cache"));
  }
  CHECK(up.heads().size() == 2);
}

TEST_CASE("websocket: when the instance goes away the client's tunnel is closed, and counted as upstream_closed") {
  TempDir dir;
  SampleService svc(dir, "chat");
  Gateway gw(dir, chat_yaml(svc));
  WsClient ws(gw.port(), "/chat/ws?name=dave");
  REQUIRE(ws.open());
  REQUIRE(ws.send_text("hi"));
  REQUIRE(ws.read_text());
  svc.process().stop();
  CHECK(ws.closed_by_peer(5s));
  CHECK(eventually([&] {
    return metric_or_zero(gw.metrics(), R"(gateway_tunnels_closed_total{reason="upstream_closed"})") == 1;
  }));
  CHECK(metric_or_zero(gw.metrics(), "gateway_tunnels_active") == 0);
}

TEST_CASE("websocket: a tunnel through a TLS listener idles out as well, and the gateway serves on") {
  TempDir dir;
  TestPki pki(dir);
  auto cert = pki.issue("site", {"localhost"});
  TunnelServer up;
  EdgeGateway gw(dir,
                 "listen:\n  - address: \"127.0.0.1:0\"\n    tls:\n      certificates:\n        - {cert: \"" +
                     cert.cert + "\", key: \"" + cert.key + "\"}\n",
                 tunnel_yaml(up.address(), "upgrade: [websocket]", "timeouts: {tunnel_idle: 1s}\n"));
  WsClient::Options o;
  o.tls = true;
  WsClient ws(gw.port(), "/socket", o);
  REQUIRE(ws.status() == 101);
  REQUIRE(ws.send_raw("tls bytes"));
  CHECK(ws.read_raw(9) == "tls bytes");
  CHECK(ws.closed_by_peer(5s));
  CHECK(eventually([&] {
    return metric_or_zero(gw.metrics(), R"(gateway_tunnels_closed_total{reason="idle"})") == 1;
  }));
  WsClient again(gw.port(), "/socket", o);
  CHECK(again.status() == 101);
}
