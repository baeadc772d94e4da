// The proxy path end to end: balancing, failover, upstream errors, connection
// reuse, and what /metrics and /status report about it. Pipelining, HTTP/1.0
// and 1.1 framing and hop-by-hop headers are in proxy_http_test.cpp, large
// bodies both ways in proxy_large_body_test.cpp. Shared helpers are in
// proxy_fixture.hpp.
//
// Each TEST_CASE starts its own sample-service instances and gateway on
// ephemeral loopback ports; the harness stops them on destruction.
#include <doctest/doctest.h>

#include <signal.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"
#include "proxy_fixture.hpp"

using namespace itest;
using namespace itest::proxy_test;
using Clock = std::chrono::steady_clock;

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
