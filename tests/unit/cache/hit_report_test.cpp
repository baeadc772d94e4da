// Tests for cache/hit_report.hpp: the minute and hour windows with an
// injected clock, Space-Saving's top keys, and the report per zone and route.
#include "cache/hit_report.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace gateway::cache;

namespace {
HitCounts one(std::uint64_t bytes, bool hit) { return {1, hit ? 1u : 0u, bytes, hit ? bytes : 0}; }
}  // namespace

TEST_CASE("hit window: the last minute in one-second buckets, old buckets age out without clearing") {
  HitWindow w(60, 1);
  const std::int64_t t0 = 1'000'000;
  w.add(t0, one(100, true));
  w.add(t0, one(50, false));
  w.add(t0 + 30, one(10, true));
  CHECK(w.total(t0) == HitCounts{2, 1, 150, 100});
  CHECK(w.total(t0 + 30) == HitCounts{3, 2, 160, 110});
  CHECK(w.total(t0 + 59) == HitCounts{3, 2, 160, 110});
  CHECK(w.total(t0 + 60) == HitCounts{1, 1, 10, 10});  // t0's second is more than a minute ago
  CHECK(w.total(t0 + 90) == HitCounts{});
  // A bucket reused a minute later starts from zero.
  w.add(t0 + 60, one(7, false));
  CHECK(w.total(t0 + 60) == HitCounts{2, 1, 17, 10});
  // Nothing from the future of `now` counts.
  CHECK(w.total(t0 - 1) == HitCounts{});
}

TEST_CASE("hit window: the last hour in one-minute buckets") {
  HitWindow w(60, 60);
  const std::int64_t t0 = 3600 * 500;  // the start of a minute
  w.add(t0 + 5, one(1, true));
  w.add(t0 + 59 * 60, one(1, false));
  CHECK(w.total(t0 + 59 * 60 + 59).requests == 2);
  CHECK(w.total(t0 + 60 * 60).requests == 1);  // the first minute left the hour
  CHECK(w.total(t0 + 120 * 60).requests == 0);
}

TEST_CASE("top keys: exact while the keys fit, heaviest first, ties by key") {
  TopKeys t(4);
  t.add("a", 1);
  t.add("b", 3);
  t.add("a", 1);
  t.add("c", 2);
  t.add("z", 0);  // no weight: not counted
  auto top = t.top(2);
  REQUIRE(top.size() == 2);
  CHECK(top[0].key == "b");
  CHECK(top[0].count == 3);
  CHECK(top[1].key == "a");  // a and c both 2: by key
  CHECK(top[1].count == 2);
  CHECK(top[1].error == 0);
  CHECK(t.top(10).size() == 3);
}

TEST_CASE("top keys: Space-Saving in bounded memory keeps the heavy hitters among many one-off keys") {
  TopKeys t(32);
  // Three heavy keys among 1000 keys seen once: any key above
  // total / capacity (36) is in the table.
  for (int i = 0; i < 1000; ++i) {
    t.add("once" + std::to_string(i), 1);
    if (i % 10 == 0) t.add("heavy1", 1);
    if (i % 20 == 0) t.add("heavy2", 1);
    if (i % 50 == 0) t.add("heavy3", 1);
  }
  auto top = t.top(2);
  REQUIRE(top.size() == 2);
  CHECK(top[0].key == "heavy1");
  CHECK(top[1].key == "heavy2");
  // Each count overestimates by at most its error, and error <= total / capacity.
  const std::uint64_t total = 1000 + 100 + 50 + 20;
  for (const auto& item : top) CHECK(item.error <= total / 32);
  CHECK(top[0].count - top[0].error <= 100);
  CHECK(top[0].count >= 100);
  CHECK(t.top(100).size() == 32);
}

TEST_CASE("top keys: weighted by bytes, and over-long keys are cut") {
  TopKeys t(4, 8);
  t.add("small", 100);
  t.add("big", 1'000'000);
  t.add("averyveryverylongkey", 5);
  auto top = t.top(3);
  CHECK(top[0].key == "big");
  CHECK(top[2].key == "averyver");
}

TEST_CASE("hit report: per zone and per route, hits and misses, and the top missed and fetched keys") {
  HitReport r;
  const std::int64_t t0 = 2'000'000;
  r.add({.now = t0, .route = "api", .key = "k1", .status = CacheStatus::miss, .body = 1000, .fetched = 1000});
  r.add({.now = t0, .route = "api", .key = "k1", .status = CacheStatus::hit, .body = 1000});
  r.add({.now = t0 + 1, .route = "api", .key = "k2", .status = CacheStatus::expired, .body = 50, .fetched = 50});
  r.add({.now = t0 + 1, .route = "api", .key = "k2", .status = CacheStatus::miss, .body = 50, .fetched = 50});
  r.add({.now = t0 + 2, .route = "img", .key = "k3", .status = CacheStatus::stale, .body = 10});
  r.add({.now = t0 + 2, .route = "img", .key = "k4", .status = CacheStatus::revalidated, .body = 10});
  r.add({.now = t0 + 2, .route = "img", .key = "", .status = CacheStatus::bypass, .body = 5});
  auto v = r.view(t0 + 2);
  CHECK(v.zone.minute == HitCounts{7, 3, 2125, 1020});
  CHECK(v.zone.hour == v.zone.minute);
  REQUIRE(v.routes.size() == 2);
  CHECK(v.routes[0].first == "api");
  CHECK(v.routes[0].second.minute == HitCounts{4, 1, 2100, 1000});
  CHECK(v.routes[1].first == "img");
  CHECK(v.routes[1].second.minute == HitCounts{3, 2, 25, 20});
  REQUIRE(v.top_misses.size() == 2);
  CHECK(v.top_misses[0].key == "k2");
  CHECK(v.top_misses[0].count == 2);
  CHECK(v.top_misses[1].key == "k1");
  REQUIRE(v.top_fetched.size() == 2);
  CHECK(v.top_fetched[0].key == "k1");
  CHECK(v.top_fetched[0].count == 1000);
  // A minute later the minute is empty, the hour is not.
  auto later = r.view(t0 + 62);
  CHECK(later.zone.minute.requests == 0);
  CHECK(later.zone.hour.requests == 7);
}
