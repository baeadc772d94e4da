// Availability of an upstream group under instance faults: a lone instance
// is never ejected, a group with too few usable instances balances over all
// of them (panic, upstreams/availability.hpp) and says so in /metrics,
// /status and one log line per change, and the active health prober, run
// for real, takes an instance out and brings it back.
//
// Each TEST_CASE starts its own sample-service instances and gateway on
// ephemeral loopback ports; the harness stops them on destruction.
#include <doctest/doctest.h>

#include <signal.h>

#include <chrono>
#include <string>

#include "harness.hpp"

using namespace itest;

namespace {

using Clock = std::chrono::steady_clock;

std::string route_all() { return "routes:\n  - {prefix: /, upstream: app}\n"; }

std::string dead_address(std::uint16_t port) { return "127.0.0.1:" + std::to_string(port); }

std::string instances_yaml(const std::vector<std::string>& addresses) {
  std::string y = "upstreams:\n  app:\n    instances: [";
  for (std::size_t i = 0; i < addresses.size(); ++i) y += (i ? ", \"" : "\"") + addresses[i] + "\"";
  return y + "]\n";
}

// A sample-service on a given port: an instance that was refusing
// connections comes back.
std::vector<std::string> on_port(std::uint16_t port) { return {"--port", std::to_string(port)}; }

bool in_panic(const std::string& status) { return status.find("\"panic\":true") != std::string::npos; }

// Resumes a stopped process when the test ends, passed or not, so that its
// teardown does not wait out SIGTERM's grace.
struct Resume {
  Process& p;
  ~Resume() { p.signal(SIGCONT); }
};

}  // namespace

TEST_CASE("a lone instance that closes one connection early answers the very next request") {
  TempDir dir;
  SampleService a(dir, "a");
  // The shipped defaults: max_fails 1, fail_timeout 10s.
  Gateway gw(dir, "workers: 1\nupstreams:\n" + upstream_yaml("app", {&a}) + route_all());
  CHECK(http_get(url(gw.port(), "/api/channels/1?fail=reset")).status == 502);
  auto r = http_get(url(gw.port(), "/api/channels/2"));
  CHECK(r.status == 200);
  CHECK(r.header("X-Instance") == "a");
  auto status = gw.status();
  INFO(status);
  CHECK(instance_state(status, a.address()) == "up");
  CHECK(status.find("\"failures_total\":1") != std::string::npos);
  CHECK(status.find("\"ejections_total\":0") != std::string::npos);
}

TEST_CASE("a lone refused instance gives 502 on every request, never 503, and stays up") {
  TempDir dir;
  auto dead = dead_address(free_port());
  Gateway gw(dir, "workers: 1\n" + instances_yaml({dead}) + "    retries: 0\n    fail_timeout: 60s\n" + route_all());
  for (int i = 0; i < 3; ++i) {
    auto r = http_get(url(gw.port(), "/api/channels/" + std::to_string(i)));
    CHECK(r.status == 502);
    CHECK(r.body.find("502") != std::string::npos);
  }
  CHECK(instance_state(gw.status(), dead) == "up");
}

TEST_CASE("two of three instances refused: in panic every request is served, all dead answer at once, one back is used before fail_timeout") {
  TempDir dir;
  auto port_a = free_port(), port_b = free_port();
  auto c = std::make_unique<SampleService>(dir, "c");
  const auto port_c = c->port();
  // The shipped defaults (retries 1, max_fails 1, panic_threshold 50%),
  // with a fail_timeout no test waits out.
  Gateway gw(dir, "workers: 1\n" + instances_yaml({dead_address(port_a), dead_address(port_b), c->address()}) +
                      "    fail_timeout: 60s\n" + route_all());

  // Until both dead instances are known, a request may meet both of them.
  CHECK(eventually([&] {
    http_get(url(gw.port(), "/api/channels/0"));
    auto s = gw.status();
    return instance_state(s, dead_address(port_a)) == "ejected" && instance_state(s, dead_address(port_b)) == "ejected";
  }));
  CHECK(in_panic(gw.status()));
  for (int i = 1; i <= 20; ++i) {
    auto r = http_get(url(gw.port(), "/api/channels/" + std::to_string(i)));
    CHECK(r.status == 200);
    CHECK(r.header("X-Instance") == "c");
  }
  // In panic the dead ones get first attempts too; their retries reach c.
  CHECK(metric(gw.metrics(), "gateway_upstream_panic_requests_total{upstream=\"app\"}").value_or(0) >= 20);
  CHECK(metric(gw.metrics(), "gateway_upstream_retries_total{upstream=\"app\"}").value_or(0) >= 5);

  // All three dead: a quick 502, not a wait and not a stale 503.
  c.reset();
  for (int i = 0; i < 3; ++i) {
    auto start = Clock::now();
    auto r = http_get(url(gw.port(), "/api/channels/x" + std::to_string(i)));
    CHECK(r.status == 502);
    CHECK(Clock::now() - start < 1s);
  }
  CHECK(instance_state(gw.status(), dead_address(port_c)) == "ejected");

  // c comes back on its port: served within a few requests, 60 s early.
  SampleService c2(dir, "c2", on_port(port_c));
  REQUIRE(c2.port() == port_c);
  auto back = Clock::now();
  CHECK(eventually([&] { return http_get(url(gw.port(), "/api/channels/7")).status == 200; }, 5s));
  CHECK(Clock::now() - back < 5s);
  CHECK(instance_state(gw.status(), c2.address()) == "up");
}

TEST_CASE("panic is entered and left once each: one log line per change, counted in /metrics and shown in /status") {
  TempDir dir;
  auto port_a = free_port(), port_b = free_port();
  SampleService c(dir, "c");
  Gateway gw(dir, "workers: 1\n" + instances_yaml({dead_address(port_a), dead_address(port_b), c.address()}) +
                      "    fail_timeout: 60s\n" + route_all());
  // Round robin from the first instance: this request meets a, then b,
  // and the group enters panic (2 of 3 out) before answering 502.
  CHECK(http_get(url(gw.port(), "/api/channels/0")).status == 502);
  auto status = gw.status();
  INFO(status);
  CHECK(in_panic(status));
  CHECK(status.find("\"panic_threshold\":50") != std::string::npos);
  // Each of these is balanced in panic: a first attempt on a dead instance
  // is retried on c.
  for (int i = 1; i <= 10; ++i) CHECK(http_get(url(gw.port(), "/api/channels/" + std::to_string(i))).status == 200);

  auto m = gw.metrics();
  CHECK(metric(m, "gateway_upstream_panic{upstream=\"app\"}") == 1);
  CHECK(metric(m, "gateway_upstream_panic_entries_total{upstream=\"app\"}") == 1);
  CHECK(metric(m, "gateway_upstream_panic_requests_total{upstream=\"app\"}") == 10);

  // a and b come back. The next first attempt (a) answers, which ends a's
  // ejection: 1 of 3 out, the panic is over.
  SampleService a(dir, "a", on_port(port_a)), b(dir, "b", on_port(port_b));
  for (int i = 11; i <= 15; ++i) CHECK(http_get(url(gw.port(), "/api/channels/" + std::to_string(i))).status == 200);
  status = gw.status();
  CHECK_FALSE(in_panic(status));
  CHECK(instance_state(status, a.address()) == "up");

  m = gw.metrics();
  INFO(m);
  CHECK(metric(m, "gateway_upstream_panic{upstream=\"app\"}") == 0);
  CHECK(metric(m, "gateway_upstream_panic_entries_total{upstream=\"app\"}") == 1);
  CHECK(metric(m, "gateway_upstream_panic_requests_total{upstream=\"app\"}") == 11);
  CHECK(m.find("# TYPE gateway_upstream_panic gauge") != std::string::npos);
  CHECK(m.find("# TYPE gateway_upstream_panic_entries_total counter") != std::string::npos);

  auto log = gw.error_log();
  INFO(log);
  CHECK(count_of(log, "upstream app enters panic: 2 of 3 instances ejected or down (panic_threshold 50%)") == 1);
  CHECK(count_of(log, "upstream app leaves panic: 1 of 3 instances ejected or down") == 1);
  CHECK(count_of(log, "panic: ") == 2);
}

TEST_CASE("the health prober takes an instance whose /health fails out of rotation and brings it back") {
  TempDir dir;
  SampleService a(dir, "a"), b(dir, "b"), c(dir, "c");
  Gateway gw(dir, "workers: 1\ntimeouts: {upstream_read: 2s}\nupstreams:\n" +
                      upstream_yaml("app", {&a, &b, &c}, "health: {path: /health, interval: 200ms, timeout: 200ms}") +
                      route_all());
  // The prober runs: every instance is asked for /health, again and again.
  CHECK(eventually([&] { return a.stat("health_requests") >= 2 && b.stat("health_requests") >= 2; }));
  CHECK(instance_state(gw.status(), b.address()) == "up");

  // b stops answering anything (/health times out), two probes in a row.
  b.process().signal(SIGSTOP);
  Resume resume{b.process()};
  CHECK(eventually([&] { return instance_state(gw.status(), b.address()) == "down"; }));
  auto status = gw.status();
  INFO(status);
  CHECK(status.find("\"health_check\":\"down\"") != std::string::npos);
  CHECK_FALSE(in_panic(status));  // 2 of 3 up: b stays out
  for (int i = 0; i < 12; ++i) {
    auto r = http_get(url(gw.port(), "/api/channels/" + std::to_string(i)));
    CHECK(r.status == 200);
    CHECK(r.header("X-Instance") != "b");
  }
  CHECK(gw.error_log().find("upstream app instance " + b.address() + " is down (health check: ") != std::string::npos);

  // b answers again: one passing probe brings it back, and it is used.
  b.process().signal(SIGCONT);
  CHECK(eventually([&] { return instance_state(gw.status(), b.address()) == "up"; }));
  CHECK(eventually([&] { return http_get(url(gw.port(), "/api/channels/b")).header("X-Instance") == "b"; }, 5s));
  CHECK(b.stat("requests") >= 1);
  CHECK(gw.error_log().find("upstream app instance " + b.address() + " is up (health check passed)") !=
        std::string::npos);
}

TEST_CASE("a lone instance failing its health check is still used (panic), unless panic_threshold is 0%") {
  TempDir dir;
  SampleService a(dir, "a");
  // /health?status=503: the probe gets a 503, the application answers.
  const std::string failing = "health: {path: \"/health?status=503\", interval: 200ms, fails: 1}";
  Gateway gw(dir, "workers: 1\nupstreams:\n" + upstream_yaml("app", {&a}, failing) + route_all());
  CHECK(eventually([&] { return instance_state(gw.status(), a.address()) == "down"; }));
  auto r = http_get(url(gw.port(), "/api/channels/1"));
  CHECK(r.status == 200);
  CHECK(r.header("X-Instance") == "a");
  CHECK(in_panic(gw.status()));
  CHECK(metric(gw.metrics(), "gateway_upstream_panic_requests_total{upstream=\"app\"}") == 1);
  CHECK(eventually([&] { return gw.error_log().find("upstream app enters panic: 1 of 1") != std::string::npos; }));

  // Panic off: the verdict is obeyed, and the group has nobody to ask.
  TempDir dir2;
  Gateway strict(dir2, "workers: 1\nupstreams:\n" + upstream_yaml("app", {&a}, failing + "\npanic_threshold: 0%") +
                           route_all());
  CHECK(eventually([&] { return instance_state(strict.status(), a.address()) == "down"; }));
  auto refused = http_get(url(strict.port(), "/api/channels/1"));
  CHECK(refused.status == 503);
  CHECK(refused.body.find("no healthy upstream") != std::string::npos);
  CHECK_FALSE(in_panic(strict.status()));
}
