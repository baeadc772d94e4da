// The disk cache end to end, revalidation and stale entries: conditional
// requests with the stored validators, stale-while-revalidate, stale-if-error
// and use_stale. Real gateway and sample-service processes, a cache zone in a
// temporary directory; shared helpers are in cache_fixture.hpp.
//
// The instance's /stats ("requests") counts what reached the fleet. Where
// time must pass for an entry to go stale, TTLs are 1-3 s and the test polls
// (each poll a HIT, which costs the fleet nothing) until the cache's answer
// changes; nothing sleeps blindly.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cache_fixture.hpp"
#include "harness.hpp"

using namespace itest;
using namespace itest::cache_test;

namespace {

using Clock = std::chrono::steady_clock;

// Polls `u` until the cache stops answering HIT (the entry went stale or
// away), at most `timeout`; returns that response (or the last HIT).
Response until_not_hit(const std::string& u, std::vector<std::string> headers = {}, Ms timeout = 5s) {
  Response r;
  eventually(
      [&] {
        r = http_get(u, headers);
        return x_cache(r) != "HIT";
      },
      timeout);
  return r;
}

}  // namespace

// ------------------------------------------------------------------ revalidation

TEST_CASE("cache: a stale entry revalidates with If-None-Match / If-Modified-Since and a 304 refreshes it") {
  TempDir dir;
  SampleService svc(dir);
  Gateway gw(dir, config(dir, svc));

  SUBCASE("ETag") {
    const auto u = url(gw.port(), "/api/channels/1?cache_control=max-age=1&etag=abc");
    auto r1 = fill(gw, u);
    REQUIRE(r1.status == 200);
    CHECK(x_cache(r1) == "MISS");
    CHECK(r1.header("ETag") == "\"abc\"");
    auto r2 = until_not_hit(u);
    CHECK(r2.status == 200);
    CHECK(x_cache(r2) == "REVALIDATED");
    CHECK(cache_status(r2).find("fwd-status=304") != std::string::npos);
    CHECK(r2.body == r1.body);
    CHECK(r2.header("ETag") == "\"abc\"");
    CHECK(svc.stat("requests") == 2);  // the conditional request reached the instance, which said 304
    auto r3 = http_get(u);
    CHECK(x_cache(r3) == "HIT");  // refreshed: fresh again for a second
    CHECK(svc.stat("requests") == 2);
  }
  SUBCASE("Last-Modified") {
    const auto u = url(gw.port(), "/api/channels/2?cache_control=max-age=1&last_modified=1700000000");
    auto r1 = fill(gw, u);
    REQUIRE(r1.status == 200);
    CHECK(x_cache(r1) == "MISS");
    CHECK(r1.header("Last-Modified") == "Tue, 14 Nov 2023 22:13:20 GMT");
    auto r2 = until_not_hit(u);
    CHECK(r2.status == 200);
    CHECK(x_cache(r2) == "REVALIDATED");
    CHECK(r2.body == r1.body);
    CHECK(svc.stat("requests") == 2);
  }
  SUBCASE("a client's own validator matching a fresh entry gets 304 from the cache") {
    const auto u = url(gw.port(), "/api/channels/3?cache_control=max-age=60&etag=v1&last_modified=1700000000");
    REQUIRE(x_cache(fill(gw, u)) == "MISS");
    auto inm = http_get(u, {"If-None-Match: \"v1\""});
    CHECK(inm.status == 304);
    CHECK(x_cache(inm) == "HIT");
    CHECK(inm.body.empty());
    CHECK(inm.header("ETag") == "\"v1\"");
    auto ims = http_get(u, {"If-Modified-Since: Tue, 14 Nov 2023 22:13:20 GMT"});
    CHECK(ims.status == 304);
    CHECK(x_cache(ims) == "HIT");
    auto other = http_get(u, {"If-None-Match: \"v0\""});
    CHECK(other.status == 200);
    CHECK(x_cache(other) == "HIT");
    CHECK(!other.body.empty());
    CHECK(svc.stat("requests") == 1);
  }
}

TEST_CASE("cache: the conditional request sent upstream carries the stored validators") {
  TempDir dir;
  CaptureServer origin(
      "HTTP/1.1 200 OK\r\nCache-Control: max-age=1\r\nETag: \"e1\"\r\n"
      "Last-Modified: Tue, 14 Nov 2023 22:13:20 GMT\r\nContent-Length: 2\r\n\r\nok");
  Gateway gw(dir, "workers: 1\ncaches:\n  main: {path: \"" + zone_path(dir) + "\"}\nupstreams:\n  app:\n"
                  "    instances: [\"" + origin.address() + "\"]\nroutes:\n"
                  "  - {prefix: /, upstream: app, cache: {zone: main}}\n");
  const auto u = url(gw.port(), "/v");
  // The client's own conditions are not forwarded on a fill.
  auto r1 = fill(gw, u, {"If-None-Match: \"mine\""});
  CHECK(r1.status == 200);
  CHECK(x_cache(r1) == "MISS");
  auto r2 = until_not_hit(u);
  CHECK(x_cache(r2) == "EXPIRED");  // the origin answered 200, not 304
  auto reqs = origin.requests();
  REQUIRE(reqs.size() == 2);
  CHECK_FALSE(head_header(reqs[0], "If-None-Match").has_value());
  CHECK(head_header(reqs[1], "If-None-Match") == "\"e1\"");
  CHECK(head_header(reqs[1], "If-Modified-Since") == "Tue, 14 Nov 2023 22:13:20 GMT");
}

// ------------------------------------------------------------------ stale-while-revalidate

TEST_CASE("cache: stale-while-revalidate serves stale at once and refreshes once in the background") {
  TempDir dir;
  SampleService svc(dir);
  Gateway gw(dir, config(dir, svc));
  // The instance takes 1.5 s: a request that waited for the refresh shows.
  // max-age=3 leaves room, after the refresh, for the HIT at the end even
  // on a loaded machine.
  const auto u = url(gw.port(), "/api/channels/1?cache_control=max-age=3,stale-while-revalidate=30&delay_ms=1500");
  auto r1 = fill(gw, u);
  REQUIRE(r1.status == 200);
  REQUIRE(x_cache(r1) == "MISS");

  // Eight clients poll together until the entry goes stale: the first to
  // see it stale gets STALE and starts the refresh; nobody waits for it.
  constexpr int kPollers = 8;
  std::atomic<bool> stale_seen{false};
  std::mutex mu;
  std::vector<std::pair<std::string, Ms>> answers;  // X-Cache and status, latency; non-HIT only
  std::int64_t stale_age = -1;
  std::vector<std::thread> threads;
  for (int t = 0; t < kPollers; ++t)
    threads.emplace_back([&] {
      Client c;
      eventually(
          [&] {
            if (stale_seen.load()) return true;
            auto t0 = Clock::now();
            auto r = c.get(u);
            auto took = std::chrono::duration_cast<Ms>(Clock::now() - t0);
            if (x_cache(r) == "HIT") return false;
            stale_seen.store(true);
            std::lock_guard lock(mu);
            answers.emplace_back(x_cache(r) + " " + std::to_string(r.status), took);
            if (x_cache(r) == "STALE") stale_age = age_of(r);
            return true;
          },
          8s);
    });
  for (auto& t : threads) t.join();
  REQUIRE(stale_seen.load());
  int stale = 0;
  for (const auto& [what, took] : answers) {
    INFO(what << " in " << took.count() << " ms");
    CHECK((what == "STALE 200" || what == "UPDATING 200"));
    CHECK(took < 1000ms);  // not the 1.5 s of the refresh
    if (what == "STALE 200") ++stale;
  }
  CHECK(stale == 1);
  CHECK(stale_age >= 3);

  // While the refresh runs, more stale requests are served at once too.
  std::vector<Response> during(kPollers);
  threads.clear();
  for (int t = 0; t < kPollers; ++t) threads.emplace_back([&, t] { during[t] = http_get(u); });
  for (auto& t : threads) t.join();
  for (const auto& r : during) {
    CHECK(r.status == 200);
    CHECK(x_cache(r) == "UPDATING");
    CHECK(r.body == r1.body);
  }

  // Exactly one refresh reaches the instance; then a HIT with a new Age.
  CHECK(eventually([&] { return stores(gw) == 2; }, 5s));
  CHECK(svc.stat("requests") == 2);
  auto after = http_get(u);
  CHECK(x_cache(after) == "HIT");
  CHECK(age_of(after) >= 0);
  CHECK(age_of(after) < stale_age);
  CHECK(age_of(after) <= 1);
  CHECK(svc.stat("requests") == 2);
  CHECK(metric(gw.metrics(), zone_metric("gateway_cache_background_updates_total")) == 1);
}

// ------------------------------------------------------------------ stale-if-error

TEST_CASE("cache: stale-if-error and use_stale serve stale when the instance is gone, otherwise 502") {
  TempDir dir;
  SampleService svc(dir);
  Setup s;
  s.routes =
      "  - {prefix: /api/chat/, upstream: app, cache: {zone: main, use_stale: [error]}}\n"
      "  - {prefix: /, upstream: app, cache: {zone: main}}\n";
  Gateway gw(dir, config(dir, svc, s));
  const auto with_sie = url(gw.port(), "/api/channels/1?cache_control=max-age=1,stale-if-error=60");
  const auto with_rule = url(gw.port(), "/api/chat/1?cache_control=max-age=1");
  const auto without = url(gw.port(), "/api/channels/2?cache_control=max-age=1");
  auto a = fill(gw, with_sie), b = fill(gw, with_rule), c = fill(gw, without);
  REQUIRE(x_cache(a) == "MISS");
  REQUIRE(x_cache(b) == "MISS");
  REQUIRE(x_cache(c) == "MISS");
  REQUIRE(svc.stat("requests") == 3);
  svc.process().stop();

  auto a2 = until_not_hit(with_sie);
  CHECK(a2.status == 200);
  CHECK(x_cache(a2) == "STALE");
  CHECK(a2.body == a.body);
  auto b2 = until_not_hit(with_rule);
  CHECK(b2.status == 200);
  CHECK(x_cache(b2) == "STALE");
  CHECK(b2.body == b.body);
  auto c2 = until_not_hit(without);
  CHECK(c2.status == 502);
  CHECK(x_cache(c2) != "STALE");
  // Still stale-served on the next try.
  CHECK(x_cache(http_get(with_sie)) == "STALE");
}
