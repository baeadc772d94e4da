// Balancing a fleet of unequal instances (issue 12): round robin, least_conn
// and p2c over three sample-service instances, one ten times slower; the
// per-instance connection limit (max_conns) with its queue; slow start of an
// instance that joins on a reload.
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

using namespace itest;

namespace {

using Clock = std::chrono::steady_clock;

// Requests per instance name (X-Instance), from `clients` threads each
// sending `each` requests on its own keep-alive connection.
std::map<std::string, int> split(std::uint16_t port, const std::string& path, int clients, int each) {
  std::map<std::string, int> counts;
  std::mutex m;
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c)
    threads.emplace_back([&, c] {
      Client client;
      for (int i = 0; i < each; ++i) {
        auto r = client.get(url(port, path + std::to_string(c * 1000 + i)));
        std::lock_guard lock(m);
        ++counts[r.status == 200 ? r.header("X-Instance").value_or("?") : "status " + std::to_string(r.status)];
      }
    });
  for (auto& t : threads) t.join();
  return counts;
}

std::string show(const std::map<std::string, int>& counts) {
  std::string s;
  for (const auto& [k, v] : counts) s += (s.empty() ? "" : " ") + k + "=" + std::to_string(v);
  return s;
}

// A group over the three instances with its own balance, and a route /<name>/.
std::string group(const std::string& name, const std::string& balance, const std::vector<const SampleService*>& s) {
  return upstream_yaml(name, s, "balance: " + balance);
}
std::string route(const std::string& name) {
  return "  - {prefix: /" + name + "/, upstream: " + name + ", strip_prefix: true}\n";
}

std::int64_t status_int(Gateway& gw, std::string_view field) { return json_int(gw.status(), field).value_or(-1); }

// Batches of 40 sequential requests until instance b gets half of one;
// returns b's count per batch (the ramp, in requests), and checks it ends
// within `timeout`.
std::vector<int> ramp_batches(Gateway& gw, Ms timeout) {
  std::vector<int> shares;
  CHECK(eventually(
      [&] {
        int to_b = split(gw.port(), "/api/channels/", 1, 40)["b"];
        shares.push_back(to_b);
        return to_b == 20;
      },
      timeout));
  std::string s;
  for (int v : shares) s += std::to_string(v) + " ";
  MESSAGE("requests to the ramping instance per 40, batch after batch: " << s);
  return shares;
}

int first_nonzero(const std::vector<int>& v) {
  for (int x : v)
    if (x) return x;
  return 0;
}

}  // namespace

TEST_CASE("with one instance ten times slower, least_conn and p2c send it far fewer requests than round robin") {
  TempDir dir;
  SampleService a(dir, "fast-a", {"--default-delay-ms", "2"});
  SampleService b(dir, "fast-b", {"--default-delay-ms", "2"});
  SampleService slow(dir, "slow", {"--default-delay-ms", "20"});
  std::vector<const SampleService*> all{&a, &b, &slow};
  Gateway gw(dir, "workers: 2\nupstreams:\n" + group("rr", "round_robin", all) + group("lc", "least_conn", all) +
                      group("p2c", "p2c", all) + "routes:\n" + route("rr") + route("lc") + route("p2c"));
  constexpr int kClients = 8, kEach = 50, kTotal = kClients * kEach;
  std::map<std::string, double> slow_share;
  for (const std::string name : {"rr", "lc", "p2c"}) {
    auto counts = split(gw.port(), "/" + name + "/api/channels/", kClients, kEach);
    MESSAGE("balance " << name << " (8 clients x 50 requests, slow instance 20 ms, fast 2 ms): " << show(counts));
    CHECK(counts["fast-a"] + counts["fast-b"] + counts["slow"] == kTotal);
    slow_share[name] = static_cast<double>(counts["slow"]) / kTotal;
  }
  // Round robin: a third each, whatever the speed.
  CHECK(slow_share["rr"] > 0.30);
  CHECK(slow_share["rr"] < 0.37);
  // The others: at most half of that (measured far lower).
  CHECK(slow_share["lc"] < slow_share["rr"] / 2);
  CHECK(slow_share["p2c"] < slow_share["rr"] / 2);
  // Nothing left in flight once every response is in, on any worker.
  auto status = gw.status();
  CHECK(count_of(status, "\"in_flight\":0") == 9u);
  CHECK(metric(gw.metrics(), "gateway_upstream_in_flight{upstream=\"p2c\",instance=\"" + slow.address() + "\"}") == 0.0);
}

TEST_CASE("max_conns: requests past the limit wait in the queue and are served as slots free, woken not polled") {
  TempDir dir;
  SampleService a(dir, "a", {"--default-delay-ms", "300"});
  Gateway gw(dir, "workers: 2\nupstreams:\n" + upstream_yaml("app", {&a}, "max_conns: 1\nmax_queue: 10\nqueue_timeout: 10s") +
                      "routes:\n  - {prefix: /, upstream: app}\n");
  auto start = Clock::now();
  auto counts = split(gw.port(), "/api/channels/", 4, 1);
  auto took = Clock::now() - start;
  MESSAGE("4 requests, max_conns 1, 300 ms each: " << show(counts) << " in "
                                                   << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                                                   << " ms");
  CHECK(counts["a"] == 4);
  CHECK(took >= std::chrono::milliseconds(1200));  // one at a time
  auto status = gw.status();
  INFO(status);
  CHECK(json_int(status, "queued") == 0);
  CHECK(json_int(status, "queue_timeouts_total") == 0);
  // Three waited; each freed slot woke one of them. The timer re-checks
  // (every 250 ms, a safety net) stay few: no busy loop.
  auto wakeups = json_int(status, "queue_wakeups_total").value_or(-1);
  auto rechecks = json_int(status, "queue_rechecks_total").value_or(-1);
  MESSAGE("queue wake-ups " << wakeups << ", timer re-checks " << rechecks);
  CHECK(wakeups >= 3);
  CHECK(rechecks <= 12);
}

TEST_CASE("max_conns: past queue_timeout a waiting request gets 503, and a full queue 503 at once, logged with why") {
  TempDir dir;
  SampleService a(dir, "a");
  Gateway gw(dir, "workers: 1\nupstreams:\n" + upstream_yaml("app", {&a}, "max_conns: 1\nmax_queue: 1\nqueue_timeout: 300ms") +
                      "routes:\n  - {prefix: /, upstream: app}\n");
  std::thread busy([&] { CHECK(http_get(url(gw.port(), "/api/channels/1?delay_ms=3000")).status == 200); });
  REQUIRE(eventually([&] { return status_int(gw, "in_flight") == 1; }));

  // The one waiting place: taken by a request that times out.
  std::thread waiting([&] {
    auto start = Clock::now();
    auto r = http_get(url(gw.port(), "/api/channels/2"));
    CHECK(r.status == 503);
    CHECK(r.body.find("queue timeout") != std::string::npos);
    CHECK(Clock::now() - start >= std::chrono::milliseconds(300));
  });
  REQUIRE(eventually([&] { return status_int(gw, "queued") == 1; }));
  // The queue is full: 503 at once.
  auto start = Clock::now();
  auto r = http_get(url(gw.port(), "/api/channels/3"));
  CHECK(r.status == 503);
  CHECK(r.body.find("queue full") != std::string::npos);
  CHECK(Clock::now() - start < std::chrono::milliseconds(1000));
  waiting.join();
  busy.join();

  auto status = gw.status();
  INFO(status);
  CHECK(json_int(status, "queue_timeouts_total") == 1);
  CHECK(json_int(status, "queue_rejections_total") == 1);
  auto metrics = gw.metrics();
  CHECK(metric(metrics, "gateway_upstream_queue_timeouts_total{upstream=\"app\"}") == 1.0);
  CHECK(metric(metrics, "gateway_upstream_queue_rejections_total{upstream=\"app\"}") == 1.0);
  CHECK(eventually([&] { return gw.access_log().find("queue=timeout") != std::string::npos; }));
  CHECK(gw.access_log().find("queue=full") != std::string::npos);
}

TEST_CASE("slow_start: an instance that joins on a reload gets a growing share of requests") {
  TempDir dir;
  SampleService a(dir, "a"), b(dir, "b");
  Gateway gw(dir, "workers: 1\nupstreams:\n" + upstream_yaml("app", {&a}, "slow_start: 3s") +
                      "routes:\n  - {prefix: /, upstream: app}\n");
  CHECK(http_get(url(gw.port(), "/api/channels/0")).header("X-Instance") == "a");
  gw.rewrite_config("workers: 1\nupstreams:\n" + upstream_yaml("app", {&a, &b}, "slow_start: 3s") +
                    "routes:\n  - {prefix: /, upstream: app}\n");
  gw.process().signal(SIGHUP);
  REQUIRE(eventually([&] { return http_get(url(gw.port(), "/api/channels/0")).header("X-Instance") == "b"; }));
  // b's share grows from about 10% to half over the 3 s (round robin is
  // weighted while it ramps).
  auto start = Clock::now();
  auto shares = ramp_batches(gw, 10s);
  CHECK(shares.front() <= 14);  // well under half at first
  CHECK(Clock::now() - start >= std::chrono::milliseconds(1500));
}

TEST_CASE("slow_start: an ejected instance that comes back gets a growing share of requests") {
  TempDir dir;
  SampleService a(dir, "a");
  const auto port_b = free_port();
  auto b = std::make_unique<SampleService>(dir, "b", std::vector<std::string>{"--port", std::to_string(port_b)});
  const std::string b_address = b->address();
  Gateway gw(dir, "workers: 1\nupstreams:\n" +
                      upstream_yaml("app", {&a, b.get()}, "slow_start: 3s\nmax_fails: 1\nfail_timeout: 1s") +
                      "routes:\n  - {prefix: /, upstream: app}\n");
  b.reset();  // refused: the next request to it ejects it (and is retried on a)
  REQUIRE(eventually([&] {
    http_get(url(gw.port(), "/api/channels/1"));
    return instance_state(gw.status(), b_address) == "ejected";
  }));
  b = std::make_unique<SampleService>(dir, "b", std::vector<std::string>{"--port", std::to_string(port_b)});
  auto start = Clock::now();
  auto shares = ramp_batches(gw, 15s);
  CHECK(first_nonzero(shares) <= 14);  // back at a fraction of its weight
  CHECK(Clock::now() - start >= std::chrono::milliseconds(1500));
}
