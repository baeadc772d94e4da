// Rate and connection limits with real processes (gateway/rate_limit.hpp):
// a burst over a route's `limit` gets 429 with Retry-After and the instance
// sees only the allowed share, keys by header keep clients apart, the
// delayed mode paces the excess instead of refusing it (all of it, or what
// is over `delay: N`), and
// max_conns_per_client closes the connection over the limit at accept.
// Other routes are never affected. `--check` names a bad rate's place.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"

using namespace itest;

namespace {

using Clock = std::chrono::steady_clock;

std::string limited_config(const SampleService& svc, const std::string& limit, const std::string& top = "") {
  return "workers: 2\n" + top + "upstreams:\n" + upstream_yaml("app", {&svc}) +
         "routes:\n"
         "  - prefix: /api/channels\n"
         "    upstream: app\n"
         "    limit: " + limit + "\n"
         "  - prefix: /\n"
         "    upstream: app\n";
}

double limit_count(const Gateway& gw, const std::string& route, const std::string& result) {
  return metric(gw.metrics(), "gateway_limit_requests_total{route=\"" + route + "\",result=\"" + result + "\"}")
      .value_or(0);
}

}  // namespace

TEST_CASE("limit: a burst over the limit gets 429 with Retry-After, the instance sees only the allowed share") {
  TempDir dir;
  SampleService svc(dir, "a");
  // 1r/m: nothing drains while the test runs; the first request and a burst of 4 pass.
  Gateway gw(dir, limited_config(svc, "{rate: 1r/m, burst: 4, nodelay: true}"));
  int ok = 0, refused = 0;
  for (int i = 0; i < 20; ++i) {
    auto r = http_get(url(gw.port(), "/api/channels/" + std::to_string(i)));
    if (r.status == 200) ++ok;
    if (r.status == 429) {
      ++refused;
      auto retry = r.header("Retry-After");
      REQUIRE(retry);
      CHECK(std::stoi(*retry) >= 1);
      CHECK(r.body.find("rate") != std::string::npos);
    }
  }
  CHECK(ok == 5);
  CHECK(refused == 15);
  CHECK(svc.stat("requests") == 5);
  CHECK(limit_count(gw, "/api/channels", "passed") == 5);
  CHECK(limit_count(gw, "/api/channels", "rejected") == 15);
  auto m = gw.metrics();
  CHECK(metric(m, "gateway_requests_total{route=\"/api/channels\",code=\"4xx\"}") == 15);
  // The route next to it is not limited.
  for (int i = 0; i < 10; ++i) CHECK(http_get(url(gw.port(), "/echo")).status == 200);
}

TEST_CASE("limit: keys by header keep clients apart, and a request without the key is not limited") {
  TempDir dir;
  SampleService svc(dir, "a");
  Gateway gw(dir, limited_config(svc, "{rate: 1r/m, key: \"header:X-Api-Key\", status: 503}"));
  const auto u = url(gw.port(), "/api/channels/1");
  CHECK(http_get(u, {"X-Api-Key: alice"}).status == 200);
  auto over = http_get(u, {"X-Api-Key: alice"});
  CHECK(over.status == 503);  // the rule's status
  CHECK(over.header("Retry-After"));
  CHECK(http_get(u, {"X-Api-Key: bob"}).status == 200);
  CHECK(http_get(u, {"X-Api-Key: bob"}).status == 503);
  for (int i = 0; i < 5; ++i) CHECK(http_get(u).status == 200);  // no key: as nginx, not limited
  CHECK(svc.stat("requests") == 7);
}

TEST_CASE("limit: the top-level limit is every route's default, and a route's own replaces it") {
  TempDir dir;
  SampleService svc(dir, "a");
  Gateway gw(dir, limited_config(svc, "off", "limit: {rate: 1r/m}\n"));
  CHECK(http_get(url(gw.port(), "/echo")).status == 200);
  CHECK(http_get(url(gw.port(), "/echo")).status == 429);  // the default applies to the route without its own
  for (int i = 0; i < 5; ++i) CHECK(http_get(url(gw.port(), "/api/channels/1")).status == 200);  // limit: off
}

TEST_CASE("limit: without nodelay the excess within the burst is delayed and paced at the rate, not refused") {
  TempDir dir;
  SampleService svc(dir, "a");
  Gateway gw(dir, limited_config(svc, "{rate: 10r/s, burst: 5}"));
  constexpr int kRequests = 6;
  std::vector<long> status(kRequests);
  std::vector<Clock::time_point> done(kRequests);
  std::vector<std::thread> threads;
  for (int i = 0; i < kRequests; ++i)
    threads.emplace_back([&, i] {
      status[i] = http_get(url(gw.port(), "/api/channels/" + std::to_string(i))).status;
      done[i] = Clock::now();
    });
  for (auto& t : threads) t.join();
  for (int i = 0; i < kRequests; ++i) CHECK(status[i] == 200);
  // At 10r/s the sixth answer comes about 500 ms after the first, however
  // late the threads started (each is delayed to its turn): at least 300.
  auto [first, last] = std::minmax_element(done.begin(), done.end());
  CHECK(*last - *first >= std::chrono::milliseconds(300));
  CHECK(limit_count(gw, "/api/channels", "delayed") + limit_count(gw, "/api/channels", "passed") == kRequests);
  CHECK(limit_count(gw, "/api/channels", "delayed") >= 3);
  CHECK(limit_count(gw, "/api/channels", "rejected") == 0);
}

TEST_CASE("limit: delay: N passes the first N of the burst at once and paces the rest") {
  TempDir dir;
  SampleService svc(dir, "a");
  Gateway gw(dir, limited_config(svc, "{rate: 1r/s, burst: 5, delay: 3}"));
  // One after another: the key's first request and an excess of 1, 2, 3
  // pass at once; an excess of 4 waits for one request to drain (~1 s).
  std::vector<Ms> took;
  for (int i = 0; i < 5; ++i) {
    const auto start = Clock::now();
    CHECK(http_get(url(gw.port(), "/api/channels/" + std::to_string(i))).status == 200);
    took.push_back(std::chrono::duration_cast<Ms>(Clock::now() - start));
  }
  CAPTURE(took[3].count());
  CAPTURE(took[4].count());
  CHECK(limit_count(gw, "/api/channels", "passed") == 4);
  CHECK(limit_count(gw, "/api/channels", "delayed") == 1);
  CHECK(took[4] >= 500ms);
}

TEST_CASE("max_conns_per_client: the connection over the limit is closed at accept, the others are served") {
  TempDir dir;
  SampleService svc(dir, "a");
  Gateway gw(dir, limited_config(svc, "off", "max_conns_per_client: 3\n"));
  std::vector<std::unique_ptr<RawConnection>> open;
  for (int i = 0; i < 3; ++i) {
    open.push_back(std::make_unique<RawConnection>(gw.port()));
    REQUIRE(open.back()->send("GET /echo HTTP/1.1\r\nHost: x\r\n\r\n"));
    REQUIRE(parse_responses(open.back()->read_responses(1, 5s)).size() == 1);  // accepted and kept alive
  }
  RawConnection fourth(gw.port());
  CHECK(fourth.closed_by_peer(5s));
  CHECK(metric(gw.metrics(), "gateway_connections_refused_total{reason=\"per_client\"}") >= 1);
  // The three still work; one closed makes room again.
  REQUIRE(open[0]->send("GET /echo HTTP/1.1\r\nHost: x\r\n\r\n"));
  CHECK(parse_responses(open[0]->read_responses(1, 5s)).size() == 1);
  open.pop_back();
  CHECK(eventually([&] { return http_get(url(gw.port(), "/echo")).status == 200; }, 5s));
}

TEST_CASE("limit: --check prints file:line:column for a bad rate") {
  TempDir dir;
  const std::string yaml =
      "upstreams: {app: {instances: [\"127.0.0.1:9001\"]}}\n"
      "routes:\n"
      "  - prefix: /\n"
      "    upstream: app\n"
      "    limit: {rate: 10r/h}\n";
  auto path = dir.write("bad.yaml", yaml);
  auto result = gateway_check(path);
  INFO(result.output);
  CHECK(result.exit_code != 0);
  CHECK(result.output.find(path + ":5:19: ") != std::string::npos);
  CHECK(result.output.find("invalid rate \"10r/h\"") != std::string::npos);
}
