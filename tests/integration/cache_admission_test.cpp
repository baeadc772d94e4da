// A zone's `admission:` and `policy:` with a real gateway (issue 13):
// min_uses:2 stores a key on its second request, the first saying why it
// was not stored in Cache-Status; a SIEVE zone serves hits and evicts
// within max_size.
#include <doctest/doctest.h>

#include <string>

#include "cache_fixture.hpp"
#include "harness.hpp"

using namespace itest;
using namespace itest::cache_test;

TEST_CASE("cache admission: min_uses:2 stores on the second request, the first says admission") {
  TempDir dir;
  SampleService svc(dir);
  Setup s;
  s.zone_extra = ", admission: \"min_uses:2\"";
  Gateway gw(dir, config(dir, svc, s));
  const auto u = url(gw.port(), "/api/channels/1?cache_control=max-age=60&size=3000");

  auto r1 = http_get(u);
  REQUIRE(r1.status == 200);
  CHECK(x_cache(r1) == "MISS");
  CHECK(cache_status(r1).find("fwd=uri-miss") != std::string::npos);
  CHECK(cache_status(r1).find("detail=admission") != std::string::npos);
  CHECK(stores(gw) == 0);

  auto r2 = fill(gw, u);  // returns once stored
  REQUIRE(r2.status == 200);
  CHECK(x_cache(r2) == "MISS");
  CHECK(cache_status(r2).find("stored") != std::string::npos);

  auto r3 = http_get(u);
  REQUIRE(r3.status == 200);
  CHECK(x_cache(r3) == "HIT");
  CHECK(r3.body == r1.body);
  CHECK(svc.stat("requests") == 2);

  const auto m = gw.metrics();
  CHECK(metric(m, zone_metric("gateway_cache_admission_refused_total")) == 1);
  CHECK(metric(m, zone_metric("gateway_cache_write_errors_total")) == 0);
}

TEST_CASE("cache admission: a sieve zone serves hits and evicts within max_size") {
  TempDir dir;
  SampleService svc(dir);
  Setup s;
  s.zone_extra = ", max_size: 256KiB, memory: 0, policy: sieve";
  Gateway gw(dir, config(dir, svc, s));
  auto path = [](int i) { return "/api/channels/" + std::to_string(i) + "?cache_control=max-age=60&size=8192"; };
  // 12 KiB charged each: 21 fit in 256 KiB; 40 make it evict.
  for (int i = 0; i < 40; ++i) {
    fill(gw, url(gw.port(), path(i)));
    if (i >= 1) {
      auto hot = http_get(url(gw.port(), path(0)));  // a hit on every round: its visited bit keeps it
      CHECK(x_cache(hot) == "HIT");
    }
  }
  const auto m = gw.metrics();
  CHECK(metric(m, zone_metric("gateway_cache_evictions_total")).value_or(0) > 0);
  CHECK(metric(m, zone_metric("gateway_cache_bytes")).value_or(1e12) <= 256 << 10);
  CHECK(eventually([&] { return entry_files(zone_path(dir)).size() * (12 << 10) <= 256 << 10; }));
  CHECK(x_cache(http_get(url(gw.port(), path(39)))) == "HIT");
}
