// background_update_timeout (issue 10, item 7): a stale-while-revalidate
// refresh that takes longer is abandoned, and the key is free for the next
// request to start another, instead of every request being served stale
// ("UPDATING") until the slow refresh ends.
//
// The route ignores the query in its key, so a request with ?delay_ms=...
// finds the entry a fast request stored, and the refresh it starts asks
// the instance with its own URL: slowly.
#include <doctest/doctest.h>

#include <string>

#include "harness.hpp"

using namespace itest;

TEST_CASE("cache: a background refresh past background_update_timeout is abandoned and the next request refreshes") {
  TempDir dir;
  SampleService svc(dir);
  Gateway gw(dir, "caches:\n  main: {path: \"" + dir.file("cache") + "\"}\nupstreams:\n" + upstream_yaml("app", {&svc}) +
                      "routes:\n  - {prefix: /, upstream: app, cache: {zone: main, ttl: 60s, query: ignore, "
                      "background_update_timeout: 300ms}}\n");
  auto x_cache = [](const Response& r) { return r.header("X-Cache").value_or("(none)"); };
  auto first = http_get(url(gw.port(), "/api/channels/5?cache_control=max-age=1,stale-while-revalidate=60"));
  REQUIRE(first.status == 200);
  REQUIRE(x_cache(first) == "MISS");

  // Once stale, a request is served at once and starts a refresh that
  // takes the instance 5 s.
  const std::string slow = url(gw.port(), "/api/channels/5?delay_ms=5000");
  REQUIRE(eventually([&] { return x_cache(http_get(slow)) == "STALE"; }, 5s));
  // Within 300 ms the refresh is given up: a later request leads a new one
  // (STALE again), rather than UPDATING until the first ends 5 s later.
  int updating = 0;
  CHECK(eventually(
      [&] {
        auto r = http_get(slow);
        if (x_cache(r) == "UPDATING") ++updating;
        return x_cache(r) == "STALE";
      },
      2s));
  INFO(updating << " requests served while the first refresh ran");
  CHECK(metric(gw.metrics(), "gateway_cache_background_updates_total{zone=\"main\"}") == 2);
  CHECK(eventually([&] { return gw.error_log().find("abandoned after background_update_timeout") != std::string::npos; }));
}
