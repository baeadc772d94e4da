// The proxy path end to end: balancing, failover, upstream errors, connection
// reuse, pipelining, HTTP/1.0 and 1.1 framing, hop-by-hop headers, large
// bodies both ways, and what /metrics and /status report about it.
//
// Each TEST_CASE starts its own sample-service instances and gateway on
// ephemeral loopback ports; the harness stops them on destruction.
#include <doctest/doctest.h>

#include <signal.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>

#include "harness.hpp"

using namespace itest;

namespace {

std::string route_all(std::string_view upstream = "app") {
  return "routes:\n  - {prefix: /, upstream: " + std::string(upstream) + "}\n";
}

std::string channel_path(int id) { return "/api/channels/" + std::to_string(id); }

std::string id_field(int id) { return "\"id\":\"" + std::to_string(id) + "\""; }

using Clock = std::chrono::steady_clock;

}  // namespace

// ------------------------------------------------------------------ balancing

TEST_CASE("round robin spreads requests evenly over three instances") {
  TempDir dir;
  SampleService a(dir, "a"), b(dir, "b"), c(dir, "c");
  constexpr int kWorkers = 2;
  Gateway gw(dir, "workers: 2\naccess_log: off\nupstreams:\n" +
                      upstream_yaml("app", {&a, &b, &c}, "balance: round_robin") + route_all());

  // One keep-alive connection stays on one worker: a strict rotation.
  {
    Client client;
    std::vector<std::string> order;
    for (int i = 0; i < 9; ++i) {
      auto r = client.get(url(gw.port(), channel_path(i)));
      REQUIRE(r.status == 200);
      order.push_back(r.header("X-Instance").value_or("?"));
    }
    CHECK(order[0] != order[1]);
    CHECK(order[1] != order[2]);
    CHECK(order[0] != order[2]);
    for (std::size_t i = 3; i < order.size(); ++i) CHECK(order[i] == order[i - 3]);
  }
  for (auto* s : {&a, &b, &c}) s->reset_stats();

  // Fresh connections land on either worker; each worker rotates on its own.
  std::map<std::string, int> seen;
  for (int i = 0; i < 300; ++i) {
    auto r = http_get(url(gw.port(), channel_path(i)));
    REQUIRE(r.status == 200);
    ++seen[r.header("X-Instance").value_or("?")];
  }
  CHECK(seen.size() == 3);
  for (auto* s : {&a, &b, &c}) {
    auto n = s->stat("requests");
    INFO("instance " << s->name() << " served " << n);
    CHECK(n >= 100 - kWorkers);
    CHECK(n <= 100 + kWorkers);
    CHECK(seen[s->name()] == n);
  }
}

TEST_CASE("weighted balancing gives 5:1:1 shares in nginx's smooth order") {
  TempDir dir;
  SampleService a(dir, "a"), b(dir, "b"), c(dir, "c");
  constexpr int kWorkers = 2;
  Gateway gw(dir, "workers: 2\naccess_log: off\nupstreams:\n  app:\n    balance: weighted\n"
                  "    instances: [{address: \"" + a.address() + "\", weight: 5}, \"" + b.address() + "\", \"" +
                      c.address() + "\"]\n" + route_all());

  // The first cycle on one worker, in smooth weighted round robin order.
  Client client;
  std::string order;
  for (int i = 0; i < 14; ++i) {
    auto r = client.get(url(gw.port(), channel_path(i)));
    REQUIRE(r.status == 200);
    order += r.header("X-Instance").value_or("?");
  }
  CHECK(order == "aabacaaaabacaa");

  // Over a multiple of 7 * workers requests on fresh connections.
  for (int i = 0; i < 7 * kWorkers * 50 - 14; ++i) REQUIRE(http_get(url(gw.port(), channel_path(i))).status == 200);
  auto na = a.stat("requests"), nb = b.stat("requests"), nc = c.stat("requests");
  INFO("a=" << na << " b=" << nb << " c=" << nc);
  CHECK(na + nb + nc == 700);
  CHECK(std::abs(na - 500) <= kWorkers);
  CHECK(std::abs(nb - 100) <= kWorkers);
  CHECK(std::abs(nc - 100) <= kWorkers);
}

// ------------------------------------------------------------------ failover

TEST_CASE("an instance killed mid-run costs at most retries-bounded errors and the rest keep serving") {
  TempDir dir;
  SampleService a(dir, "a"), b(dir, "b"), c(dir, "c");
  Gateway gw(dir, "workers: 2\nupstreams:\n" +
                      upstream_yaml("app", {&a, &b, &c}, "retries: 1\nmax_fails: 1\nfail_timeout: 60s") + route_all());

  constexpr int kThreads = 4, kPerThread = 80;
  std::atomic<bool> killed{false};
  std::atomic<int> failed{0}, after_kill{0}, after_kill_on_b{0};
  std::mutex mu;
  std::vector<std::string> failures;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Client client;  // keep-alive: the gateway's pooled connections to b go stale too
      for (int i = 0; i < kPerThread; ++i) {
        bool sent_after_kill = killed.load();
        auto r = client.get(url(gw.port(), channel_path(t * 1000 + i) + "?delay_ms=5"));
        if (r.status != 200) {
          ++failed;
          std::lock_guard lock(mu);
          failures.push_back(std::to_string(r.status) + " " + r.body);
        }
        if (sent_after_kill) {
          ++after_kill;
          if (r.header("X-Instance") == "b") ++after_kill_on_b;
        }
      }
    });
  }
  // Kill b while requests are in flight on it.
  bool b_busy = eventually([&] { return b.stat("requests") >= 20; });
  b.process().signal(SIGKILL);
  b.process().stop();
  killed.store(true);
  for (auto& th : threads) th.join();

  REQUIRE(b_busy);
  INFO("failures: " << failures.size() << (failures.empty() ? "" : " first: " + failures.front()));
  // GETs are retried on another instance: a dead instance costs nothing
  // (at most one per request in flight if a retry also failed).
  CHECK(failed.load() == 0);
  CHECK(after_kill.load() > 0);
  CHECK(after_kill_on_b.load() == 0);
  CHECK(a.stat("requests") + c.stat("requests") >= after_kill.load());

  auto status = gw.status();
  INFO(status);
  CHECK(instance_state(status, b.address()) == "ejected");
  CHECK(instance_state(status, a.address()) == "up");
  CHECK(instance_state(status, c.address()) == "up");
  CHECK(gw.error_log().find("instance=" + b.address()) != std::string::npos);
  auto metrics = gw.metrics();
  CHECK(metric(metrics, "gateway_upstream_retries_total{upstream=\"app\"}").value_or(0) >= 1);
}

// ------------------------------------------------------------------ upstream errors

TEST_CASE("upstream slower than upstream_read gives 504 with a short body, not retried, logged with route and instance") {
  TempDir dir;
  SampleService a(dir, "a"), b(dir, "b");
  Gateway gw(dir, "workers: 1\ntimeouts: {upstream_read: 300ms}\nupstreams:\n" +
                      upstream_yaml("app", {&a, &b}, "retries: 1\nmax_fails: 0") + route_all());
  auto start = Clock::now();
  auto r = http_get(url(gw.port(), "/api/channels/1?delay_ms=2000"));
  auto took = std::chrono::duration_cast<Ms>(Clock::now() - start);
  CHECK(r.status == 504);
  CHECK(r.body.size() < 200);
  CHECK(r.body.find("504") != std::string::npos);
  CHECK(took >= 250ms);
  CHECK(took < 1500ms);
  // A request that may be running is not sent again.
  CHECK(a.stat("requests") + b.stat("requests") == 1);
  std::string instance = a.stat("requests") == 1 ? a.address() : b.address();
  CHECK(eventually([&] {
    auto log = gw.access_log();
    return log.find("\"GET /api/channels/1?delay_ms=2000 HTTP/1.1\" 504 ") != std::string::npos &&
           log.find("route=/ upstream=app instance=" + instance) != std::string::npos;
  }));
  CHECK(gw.error_log().find("instance=" + instance) != std::string::npos);
  // The gateway still answers promptly afterwards.
  CHECK(http_get(url(gw.port(), "/api/channels/2")).status == 200);
}

// A lone instance is never ejected and a group whose instances are all out
// is in panic (availability_test.cpp); with panic off, the old rule holds.
TEST_CASE("panic off (panic_threshold 0%): every instance refused gives 502 after trying each, then 503") {
  TempDir dir;
  auto d1 = "127.0.0.1:" + std::to_string(free_port());
  auto d2 = "127.0.0.1:" + std::to_string(free_port());
  Gateway gw(dir, "workers: 1\nupstreams:\n  app:\n    instances: [\"" + d1 + "\", \"" + d2 +
                      "\"]\n    retries: 1\n    max_fails: 1\n    fail_timeout: 60s\n    panic_threshold: 0%\n" +
                      route_all());
  auto r1 = http_get(url(gw.port(), "/api/channels/1"));
  CHECK(r1.status == 502);
  CHECK(r1.body.size() < 200);
  CHECK(r1.body.find("502") != std::string::npos);
  auto status = gw.status();
  CHECK(instance_state(status, d1) == "ejected");
  CHECK(instance_state(status, d2) == "ejected");

  auto r2 = http_get(url(gw.port(), "/api/channels/2"));
  CHECK(r2.status == 503);
  CHECK(r2.body.size() < 200);
  CHECK(r2.body.find("no healthy upstream") != std::string::npos);

  CHECK(eventually([&] {
    auto log = gw.access_log();
    return log.find("\"GET /api/channels/1 HTTP/1.1\" 502 ") != std::string::npos &&
           log.find("tries=2") != std::string::npos &&
           log.find("\"GET /api/channels/2 HTTP/1.1\" 503 ") != std::string::npos;
  }));
  auto err = gw.error_log();
  CHECK(err.find("route=/ upstream=app instance=" + d1 + ": connect failed") != std::string::npos);
  CHECK(err.find("no healthy instance") != std::string::npos);
}

TEST_CASE("a refused instance next to a live one costs no request") {
  TempDir dir;
  SampleService a(dir, "a");
  auto dead = "127.0.0.1:" + std::to_string(free_port());
  Gateway gw(dir, "workers: 1\nupstreams:\n  app:\n    instances: [\"" + dead + "\", \"" + a.address() +
                      "\"]\n    retries: 1\n    max_fails: 1\n    fail_timeout: 60s\n" + route_all());
  for (int i = 0; i < 10; ++i) CHECK(http_get(url(gw.port(), channel_path(i))).status == 200);
  CHECK(a.stat("requests") == 10);
  CHECK(instance_state(gw.status(), dead) == "ejected");
  CHECK(instance_state(gw.status(), a.address()) == "up");
}

TEST_CASE("an upstream reset before responding gives 502") {
  TempDir dir;
  SampleService a(dir, "a");
  Gateway gw(dir, "workers: 1\nupstreams:\n" + upstream_yaml("app", {&a}, "retries: 0\nmax_fails: 0") + route_all());
  auto r = http_get(url(gw.port(), "/api/channels/1?fail=reset"));
  CHECK(r.status == 502);
  CHECK(r.body.size() < 200);
  // Not ejected (max_fails: 0): the next request is served.
  CHECK(http_get(url(gw.port(), "/api/channels/2")).status == 200);
}

TEST_CASE("an upstream 503 is retried once on another instance, then relayed") {
  TempDir dir;
  SampleService a(dir, "a"), b(dir, "b");
  Gateway gw(dir, "workers: 1\nupstreams:\n" + upstream_yaml("app", {&a, &b}, "retries: 1") + route_all());
  auto r = http_get(url(gw.port(), "/api/channels/1?status=503"));
  CHECK(r.status == 503);
  CHECK(r.header("X-Instance").has_value());  // the instance's own answer
  CHECK(a.stat("requests") == 1);
  CHECK(b.stat("requests") == 1);
  // A POST is not idempotent: one try only.
  a.reset_stats();
  b.reset_stats();
  Client client;
  Request post;
  post.method = "POST";
  post.url = url(gw.port(), "/api/channels/1?status=503");
  post.body = "x";
  CHECK(client.send(post).status == 503);
  CHECK(a.stat("requests") + b.stat("requests") == 1);
}

// ------------------------------------------------------------------ connection reuse

TEST_CASE("upstream connections are kept alive and reused") {
  TempDir dir;
  SampleService a(dir, "a");
  constexpr int kWorkers = 2;
  Gateway gw(dir, "workers: 2\naccess_log: off\nupstreams:\n" + upstream_yaml("app", {&a}, "keepalive: 8") +
                      route_all());
  a.reset_stats();
  {
    Client client;
    for (int i = 0; i < 200; ++i) REQUIRE(client.get(url(gw.port(), channel_path(i))).status == 200);
  }
  // A fresh client connection for each request: the pools still serve them.
  for (int i = 0; i < 100; ++i) REQUIRE(http_get(url(gw.port(), channel_path(i))).status == 200);

  auto stats = a.stats_json();
  auto requests = json_int(stats, "requests").value_or(-1);
  // "connections" counts the /stats request's own connection too.
  auto connections = json_int(stats, "connections").value_or(-1) - 1;
  INFO("requests=" << requests << " upstream connections=" << connections);
  CHECK(requests == 300);
  CHECK(connections >= 1);
  CHECK(connections <= kWorkers);

  auto m = gw.metrics();
  auto opened = metric(m, "gateway_upstream_connections_opened_total{upstream=\"app\"}");
  auto reused = metric(m, "gateway_upstream_connections_reused_total{upstream=\"app\"}");
  REQUIRE(opened);
  REQUIRE(reused);
  CHECK(*opened == connections);
  CHECK(*opened + *reused == 300);
}

// ------------------------------------------------------------------ pipelining

TEST_CASE("pipelined requests are answered in order") {
  TempDir dir;
  SampleService a(dir, "a"), b(dir, "b");
  Gateway gw(dir, "workers: 1\nupstreams:\n" + upstream_yaml("app", {&a, &b}) + route_all());
  RawConnection conn(gw.port());
  std::string batch;
  for (int id = 1; id <= 5; ++id) {
    // The first is the slowest: answers must still come in request order.
    std::string q = id == 1 ? "?delay_ms=150" : id == 3 ? "?delay_ms=50" : "";
    batch += "GET " + channel_path(id) + q + " HTTP/1.1\r\nHost: x\r\n\r\n";
  }
  REQUIRE(conn.send(batch));
  auto responses = parse_responses(conn.read_responses(5));
  REQUIRE(responses.size() == 5);
  for (int id = 1; id <= 5; ++id) {
    CHECK(responses[id - 1].status == 200);
    CHECK(responses[id - 1].body.find(id_field(id)) != std::string::npos);
  }
  // The connection is still open for more.
  REQUIRE(conn.send("GET " + channel_path(6) + " HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto more = parse_responses(conn.read_responses(1));
  REQUIRE(more.size() == 1);
  CHECK(more[0].body.find(id_field(6)) != std::string::npos);
}

TEST_CASE("a pipelined mix of GETs and POSTs with bodies is answered in order") {
  TempDir dir;
  SampleService a(dir, "a");
  Gateway gw(dir, "workers: 1\nupstreams:\n" + upstream_yaml("app", {&a}) + route_all());
  RawConnection conn(gw.port());
  std::string batch =
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
      "GET /api/channels/2 HTTP/1.1\r\nHost: x\r\n\r\n"
      "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nworld\r\n3\r\n!!!\r\n0\r\n\r\n"
      "GET /api/chat/3 HTTP/1.1\r\nHost: x\r\n\r\n"
      "PUT /echo?echo_body=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello again";
  REQUIRE(conn.send(batch));
  auto responses = parse_responses(conn.read_responses(5));
  REQUIRE(responses.size() == 5);
  for (const auto& r : responses) CHECK(r.status == 200);
  CHECK(responses[0].body.find("\"method\":\"POST\"") != std::string::npos);
  CHECK(responses[0].body.find("\"body_bytes\":5") != std::string::npos);
  CHECK(responses[1].body.find(id_field(2)) != std::string::npos);
  CHECK(responses[2].body.find("\"body_bytes\":8") != std::string::npos);
  CHECK(responses[3].body.find("\"channel\":\"3\"") != std::string::npos);
  CHECK(responses[4].body == "hello again");
  CHECK(a.stat("requests") == 5);
}

// ------------------------------------------------------------------ HTTP semantics

TEST_CASE("HEAD returns the GET's headers and no body") {
  TempDir dir;
  SampleService a(dir, "a");
  Gateway gw(dir, "workers: 1\nupstreams:\n" + upstream_yaml("app", {&a}) + route_all());
  auto get = http_get(url(gw.port(), "/api/channels/9"));
  REQUIRE(get.status == 200);
  RawConnection conn(gw.port());
  // HEAD then GET on one connection: the GET's status line must follow the
  // HEAD's blank line directly.
  REQUIRE(conn.send("HEAD /api/channels/9 HTTP/1.1\r\nHost: x\r\n\r\nGET /api/channels/9 HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string bytes;
  REQUIRE(eventually([&] {
    bytes += conn.read_some(100ms);
    auto first = bytes.find("\r\n\r\n");
    return first != std::string::npos && parse_responses(bytes.substr(first + 4)).size() == 1;
  }));
  auto head_end = bytes.find("\r\n\r\n") + 4;
  std::string head = bytes.substr(0, head_end);
  CHECK(head.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(head_header(head, "Content-Length") == std::to_string(get.body.size()));
  CHECK(head_header(head, "Content-Type") == get.header("Content-Type"));
  auto rest = parse_responses(bytes.substr(head_end));
  REQUIRE(rest.size() == 1);
  CHECK(rest[0].status == 200);
  CHECK(rest[0].body == get.body.substr(0, rest[0].body.size()));
  CHECK(rest[0].body.size() == get.body.size());

  // HEAD of a chunked upstream answer: headers only, and the connection goes on.
  RawConnection c2(gw.port());
  REQUIRE(c2.send("HEAD /api/channels/9?chunked=1 HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string b2;
  REQUIRE(eventually([&] {
    b2 += c2.read_some(100ms);
    return count_of(b2, "HTTP/1.1 ") >= 2 && b2.size() > b2.rfind("\r\n\r\n") + 4;
  }, 5s));
  auto second = b2.find("HTTP/1.1 ", 1);
  CHECK(second == b2.find("\r\n\r\n") + 4);
}

TEST_CASE("HTTP/1.0 clients: close by default, keep-alive on request") {
  TempDir dir;
  SampleService a(dir, "a");
  Gateway gw(dir, "workers: 1\nupstreams:\n" + upstream_yaml("app", {&a}) + route_all());
  {
    RawConnection conn(gw.port());
    REQUIRE(conn.send("GET /api/channels/1 HTTP/1.0\r\nHost: x\r\n\r\n"));
    auto bytes = conn.read_until_close(5s);
    auto rs = parse_responses(bytes);
    REQUIRE(rs.size() == 1);
    CHECK(rs[0].head.rfind("HTTP/1.", 0) == 0);
    CHECK(rs[0].status == 200);
    CHECK(rs[0].body.find(id_field(1)) != std::string::npos);
    CHECK(head_header(rs[0].head, "Connection") == "close");
  }
  {
    RawConnection conn(gw.port());
    REQUIRE(conn.send("GET /api/channels/1 HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n"));
    auto rs = parse_responses(conn.read_responses(1));
    REQUIRE(rs.size() == 1);
    CHECK(rs[0].status == 200);
    CHECK(head_header(rs[0].head, "Connection").value_or("") == "keep-alive");
    CHECK_FALSE(conn.closed_by_peer(300ms));
    REQUIRE(conn.send("GET /api/channels/2 HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n"));
    auto more = parse_responses(conn.read_responses(1));
    REQUIRE(more.size() == 1);
    CHECK(more[0].body.find(id_field(2)) != std::string::npos);
  }
}

TEST_CASE("an HTTP/1.0 request without Host is forwarded with one") {
  TempDir dir;
  SampleService a(dir, "a");
  Gateway gw(dir, "workers: 1\nupstreams:\n" + upstream_yaml("app", {&a}) + route_all());
  RawConnection conn(gw.port());
  REQUIRE(conn.send("GET /api/channels/1 HTTP/1.0\r\n\r\n"));
  auto rs = parse_responses(conn.read_until_close(5s));
  REQUIRE(rs.size() == 1);
  CHECK(rs[0].status == 200);
  CHECK(rs[0].body.find(id_field(1)) != std::string::npos);
  CHECK(json_int(a.stats_json(), "bad_requests") == 0);
}

TEST_CASE("a chunked upstream answer reaches a 1.1 client chunked and a 1.0 client close-delimited") {
  TempDir dir;
  SampleService a(dir, "a");
  Gateway gw(dir, "workers: 1\nupstreams:\n" + upstream_yaml("app", {&a}) + route_all());
  const std::string path = "/api/channels/4?chunked=1&size=40000";
  auto plain = http_get(url(gw.port(), "/api/channels/4?size=40000"));
  REQUIRE(plain.status == 200);
  REQUIRE(plain.body.size() == 40000);
  {
    RawConnection conn(gw.port());
    REQUIRE(conn.send("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto rs = parse_responses(conn.read_responses(1));
    REQUIRE(rs.size() == 1);
    CHECK(head_header(rs[0].head, "Transfer-Encoding") == "chunked");
    CHECK_FALSE(head_header(rs[0].head, "Content-Length"));
    CHECK(rs[0].body == plain.body);
    CHECK_FALSE(conn.closed_by_peer(200ms));  // chunked: the connection can go on
  }
  {
    RawConnection conn(gw.port());
    REQUIRE(conn.send("GET " + path + " HTTP/1.0\r\nHost: x\r\n\r\n"));
    auto bytes = conn.read_until_close(5s);
    auto head_end = bytes.find("\r\n\r\n");
    REQUIRE(head_end != std::string::npos);
    auto head = bytes.substr(0, head_end + 4);
    CHECK_FALSE(head_header(head, "Transfer-Encoding"));
    CHECK(head_header(head, "Connection") == "close");
    CHECK(bytes.substr(head_end + 4) == plain.body);
  }
}

TEST_CASE("Expect: 100-continue gets 100 Continue, then the final response") {
  TempDir dir;
  SampleService a(dir, "a");
  Gateway gw(dir, "workers: 1\nupstreams:\n" + upstream_yaml("app", {&a}) + route_all());
  RawConnection conn(gw.port());
  REQUIRE(conn.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n"));
  std::string bytes;
  REQUIRE(eventually([&] {
    bytes += conn.read_some(100ms);
    return bytes.find("\r\n\r\n") != std::string::npos;
  }, 5s));
  CHECK(bytes.rfind("HTTP/1.1 100 Continue\r\n", 0) == 0);
  CHECK(a.stat("requests") == 0);  // the body is not here yet
  REQUIRE(conn.send("0123456789"));
  bytes += conn.read_responses(1);
  auto rs = parse_responses(bytes);
  REQUIRE(rs.size() == 2);
  CHECK(rs[0].status == 100);
  CHECK(rs[1].status == 200);
  CHECK(rs[1].body.find("\"body_bytes\":10") != std::string::npos);
  CHECK(a.stat("requests") == 1);
}

TEST_CASE("hop-by-hop request headers stay at the gateway, others pass, forwarding headers are added") {
  TempDir dir;
  CaptureServer up("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  Gateway gw(dir, "workers: 1\nupstreams:\n  app:\n    instances: [\"" + up.address() + "\"]\n" + route_all());
  RawConnection conn(gw.port());
  REQUIRE(conn.send("GET /x?q=1 HTTP/1.1\r\nHost: example.test\r\nConnection: keep-alive, X-Secret\r\n"
                    "X-Secret: 1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Connection: keep-alive\r\n"
                    "X-Custom: Some  Value\r\nX-Forwarded-For: 10.0.0.1\r\nVia: 1.0 upfront\r\n\r\n"));
  auto rs = parse_responses(conn.read_responses(1));
  REQUIRE(rs.size() == 1);
  CHECK(rs[0].status == 200);
  CHECK(rs[0].body == "ok");
  auto reqs = up.requests();
  REQUIRE(reqs.size() == 1);
  const auto& head = reqs[0];
  INFO(head);
  CHECK(head.rfind("GET /x?q=1 HTTP/1.1\r\n", 0) == 0);
  CHECK_FALSE(head_header(head, "X-Secret"));
  CHECK_FALSE(head_header(head, "Keep-Alive"));
  CHECK_FALSE(head_header(head, "TE"));
  CHECK_FALSE(head_header(head, "Proxy-Connection"));
  CHECK(head_header(head, "Connection").value_or("keep-alive") == "keep-alive");
  CHECK(head_header(head, "X-Custom") == "Some  Value");
  CHECK(head_header(head, "Host") == "example.test");
  CHECK(head_header(head, "X-Forwarded-For") == "10.0.0.1, 127.0.0.1");
  CHECK(head_header(head, "X-Forwarded-Host") == "example.test");
  CHECK(head_header(head, "X-Forwarded-Proto") == "http");
  CHECK(head_header(head, "Via") == "1.0 upfront, 1.1 gateway");
}

TEST_CASE("obs-fold in a request is refused with 400 or unfolded, never forwarded as is") {
  TempDir dir;
  CaptureServer up("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  Gateway gw(dir, "workers: 1\nupstreams:\n  app:\n    instances: [\"" + up.address() + "\"]\n" + route_all());
  RawConnection conn(gw.port());
  REQUIRE(conn.send("GET /x HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\nX-Tab: c\r\n\td\r\n\r\n"));
  auto rs = parse_responses(conn.read_responses(1));
  REQUIRE(rs.size() == 1);
  // RFC 9112 5.2: a server either rejects obs-fold with 400 or replaces it
  // with spaces before interpreting or forwarding the message.
  if (rs[0].status == 400) {
    CHECK(conn.closed_by_peer());
    CHECK(up.requests().empty());
  } else {
    CHECK(rs[0].status == 200);
    auto reqs = up.requests();
    REQUIRE(reqs.size() == 1);
    INFO(reqs[0]);
    CHECK(reqs[0].find("\r\n ") == std::string::npos);
    CHECK(reqs[0].find("\r\n\t") == std::string::npos);
    CHECK(head_header(reqs[0], "X-Folded").value_or("").find('b') != std::string::npos);
    CHECK(head_header(reqs[0], "X-Tab").value_or("").find('d') != std::string::npos);
  }
}

TEST_CASE("hop-by-hop response headers stay at the gateway, others reach the client untouched") {
  TempDir dir;
  SampleService a(dir, "a");
  Gateway gw(dir, "workers: 1\nupstreams:\n" + upstream_yaml("app", {&a}) + route_all());
  auto r = http_get(url(gw.port(), "/api/channels/1?header=X-Custom:%20Some%20%20Value&header=Connection:%20X-Up"
                                   "&header=X-Up:%201&header=Keep-Alive:%20timeout=9"));
  REQUIRE(r.status == 200);
  CHECK(r.header("X-Custom") == "Some  Value");
  CHECK_FALSE(r.header("X-Up"));
  CHECK_FALSE(r.header("Keep-Alive"));
  CHECK(r.header_count("Connection") <= 1);
  CHECK(r.header("Connection").value_or("keep-alive").find("X-Up") == std::string::npos);
  CHECK(r.header("Via").value_or("").find("1.1 gateway") != std::string::npos);

  // The same through a scripted upstream, byte-exact.
  CaptureServer up(
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: X-Up, keep-alive\r\nX-Up: 1\r\nKeep-Alive: timeout=9\r\n"
      "Proxy-Authenticate: Basic\r\nX-Other: a, b\r\nX-Other: c\r\n\r\nok");
  TempDir dir2;
  Gateway gw2(dir2, "workers: 1\nupstreams:\n  app:\n    instances: [\"" + up.address() + "\"]\n" + route_all());
  auto r2 = http_get(url(gw2.port(), "/y"));
  REQUIRE(r2.status == 200);
  CHECK(r2.body == "ok");
  CHECK_FALSE(r2.header("X-Up"));
  CHECK_FALSE(r2.header("Keep-Alive"));
  CHECK_FALSE(r2.header("Proxy-Authenticate"));
  CHECK(r2.header_count("X-Other") == 2);
  CHECK(r2.header("X-Other") == "a, b");
}

// ------------------------------------------------------------------ large bodies

TEST_CASE("a 100 MB response and a 100 MB chunked upload pass with bounded gateway memory") {
  TempDir dir;
  SampleService a(dir, "a");
  Gateway gw(dir, "workers: 2\naccess_log: off\nlimits: {body_bytes: 1GiB}\nupstreams:\n" + upstream_yaml("app", {&a}) +
                      route_all());
  REQUIRE(http_get(url(gw.port(), "/api/channels/1")).status == 200);
  const auto start_kib = gw.rss_kib();
  REQUIRE(start_kib > 0);
  constexpr std::uint64_t k100MB = 100ull * 1024 * 1024;
  constexpr std::int64_t kBoundKib = 64 * 1024;

  auto down = stream_exchange(url(gw.port(), "/api/channels/1?size=" + std::to_string(k100MB)), 0, false, false);
  INFO("download: " << down.error);
  CHECK(down.status == 200);
  CHECK(down.received == k100MB);
  CHECK(down.header("Content-Length") == std::to_string(k100MB));

  auto chunked_down =
      stream_exchange(url(gw.port(), "/api/channels/1?chunked=1&size=" + std::to_string(k100MB)), 0, false, false);
  CHECK(chunked_down.status == 200);
  CHECK(chunked_down.received == k100MB);

  // Upload to an instance that counts the body and answers at its end.
  auto counted = stream_exchange(url(gw.port(), "/echo"), k100MB, true, false);
  INFO("upload: " << counted.error);
  CHECK(counted.status == 200);
  CHECK(json_int(a.stats_json(), "bytes_in").value_or(0) >= static_cast<std::int64_t>(k100MB));
  // And with Content-Length.
  auto sized = stream_exchange(url(gw.port(), "/echo"), k100MB, false, false);
  CHECK(sized.status == 200);
  CHECK(json_int(a.stats_json(), "bytes_in").value_or(0) >= static_cast<std::int64_t>(2 * k100MB));

  auto peak = gw.peak_rss_kib();
  INFO("rss at start " << start_kib << " KiB, peak " << peak << " KiB");
  CHECK(peak - start_kib < kBoundKib);
}

TEST_CASE("a 100 MB upload echoed back while it arrives streams both ways") {
  TempDir dir;
  SampleService a(dir, "a");
  Gateway gw(dir, "workers: 1\naccess_log: off\nlimits: {body_bytes: 1GiB}\n"
                  "timeouts: {upstream_send: 3s, upstream_read: 3s}\nupstreams:\n" +
                      upstream_yaml("app", {&a}) + route_all());
  REQUIRE(http_get(url(gw.port(), "/api/channels/1")).status == 200);
  const auto start_kib = gw.rss_kib();
  constexpr std::uint64_t k100MB = 100ull * 1024 * 1024;
  auto up = stream_exchange(url(gw.port(), "/echo?echo_body=1"), k100MB, true, true, 15s);
  INFO("upload: " << up.error);
  CHECK(up.status == 200);
  CHECK(up.received == k100MB);
  CHECK(up.echo_matches);
  CHECK(gw.peak_rss_kib() - start_kib < 64 * 1024);
}

// ------------------------------------------------------------------ admin

TEST_CASE("/metrics counts requests by route and status class, upstream times and connections, and /status lists instances") {
  TempDir dir;
  SampleService a(dir, "a"), b(dir, "b");
  auto dead = "127.0.0.1:" + std::to_string(free_port());
  Gateway gw(dir, "workers: 2\nupstreams:\n" + upstream_yaml("app", {&a, &b}) + "  gone:\n    instances: [\"" + dead +
                      "\"]\n    retries: 0\n    max_fails: 1\n    fail_timeout: 60s\n" +
                      "routes:\n  - {prefix: /api/, upstream: app, name: api}\n  - {prefix: /gone/, upstream: gone}\n");
  for (int i = 0; i < 6; ++i) REQUIRE(http_get(url(gw.port(), channel_path(i))).status == 200);
  REQUIRE(http_get(url(gw.port(), "/api/channels/1?status=404")).status == 404);
  REQUIRE(http_get(url(gw.port(), "/api/channels/1?status=500")).status == 500);
  REQUIRE(http_get(url(gw.port(), "/gone/x")).status == 502);
  REQUIRE(http_get(url(gw.port(), "/nowhere")).status == 404);

  // Two idle client connections held open.
  RawConnection idle1(gw.port()), idle2(gw.port());
  REQUIRE(idle1.send("GET /api/channels/1 HTTP/1.1\r\nHost: x\r\n\r\n"));
  REQUIRE(idle2.send("GET /api/channels/1 HTTP/1.1\r\nHost: x\r\n\r\n"));
  REQUIRE(parse_responses(idle1.read_responses(1)).size() == 1);
  REQUIRE(parse_responses(idle2.read_responses(1)).size() == 1);

  // Counted once each response is out, which can be after the client has it.
  std::string m;
  CHECK(eventually([&] {
    m = gw.metrics();
    return metric(m, "gateway_requests_total{route=\"api\",code=\"2xx\"}") == 8;
  }));
  INFO(m);
  CHECK(metric(m, "gateway_requests_total{route=\"api\",code=\"4xx\"}") == 1);
  CHECK(metric(m, "gateway_requests_total{route=\"api\",code=\"5xx\"}") == 1);
  CHECK(metric(m, "gateway_requests_total{route=\"/gone/\",code=\"5xx\"}") == 1);
  CHECK(metric(m, "gateway_upstream_response_seconds_count{upstream=\"app\"}") == 10);
  CHECK(metric(m, "gateway_upstream_response_seconds_bucket{upstream=\"app\",le=\"+Inf\"}") == 10);
  CHECK(metric(m, "gateway_upstream_response_seconds_sum{upstream=\"app\"}").value_or(-1) > 0);
  CHECK(metric(m, "gateway_upstream_errors_total{upstream=\"gone\"}") == 1);
  // Two idle connections and the one asking for /metrics.
  CHECK(metric(m, "gateway_connections_active") == 3);
  CHECK(m.find("# TYPE gateway_upstream_response_seconds histogram") != std::string::npos);

  auto s = gw.status();
  INFO(s);
  CHECK(instance_state(s, a.address()) == "up");
  CHECK(instance_state(s, b.address()) == "up");
  CHECK(instance_state(s, dead) == "up");  // the only instance of its group is never ejected
  CHECK(s.find("\"app\":{\"balance\":\"round_robin\"") != std::string::npos);

  auto st = http_get(url(gw.admin_port(), "/status"));
  CHECK(st.header("Content-Type").value_or("").find("application/json") != std::string::npos);
  // Admin endpoints are not served on the public listener.
  auto pub = http_get(url(gw.port(), "/metrics"));
  CHECK(pub.status == 404);
}
