// The disk cache end to end, purge and invalidation: purges by URL, prefix
// and tag on the admin port, and a successful POST invalidating the URL and
// its Location. Real gateway and sample-service processes, a cache zone in a
// temporary directory; shared helpers are in cache_fixture.hpp.
//
// The instance's /stats ("requests") counts what reached the fleet. Where
// time must pass for an entry to go stale, TTLs are 1-3 s and the test polls
// (each poll a HIT, which costs the fleet nothing) until the cache's answer
// changes; nothing sleeps blindly.
#include <doctest/doctest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cache_fixture.hpp"
#include "harness.hpp"

using namespace itest;
using namespace itest::cache_test;

namespace {

std::optional<std::int64_t> purge(const Gateway& gw, std::string_view what, std::string_view value) {
  auto r = post(url(gw.admin_port(), "/purge?" + std::string(what) + "=" + pct(value)), {}, "");
  INFO("purge " << what << "=" << value << ": " << r.status << " " << r.body);
  CHECK(r.status == 200);
  return json_int(r.body, "purged");
}

}  // namespace

// ------------------------------------------------------------------ purge

TEST_CASE("cache: purge by URL (every Vary variant), by prefix and by tag, on the admin port only") {
  TempDir dir;
  SampleService svc(dir);
  Gateway gw(dir, config(dir, svc));
  auto get = [&](const std::string& p, std::vector<std::string> h = {}) { return http_get(url(gw.port(), p), h); };
  // A miss that stores the response.
  auto miss = [&](const std::string& p, std::vector<std::string> h = {}) { return x_cache(fill(gw, url(gw.port(), p), h)); };

  SUBCASE("by URL: all Vary variants") {
    const std::string p = "/api/channels/1?cache_control=max-age=300&vary=Accept-Language";
    REQUIRE(miss(p, {"Accept-Language: en"}) == "MISS");
    REQUIRE(miss(p, {"Accept-Language: de"}) == "MISS");
    REQUIRE(x_cache(get(p, {"Accept-Language: en"})) == "HIT");
    REQUIRE(x_cache(get(p, {"Accept-Language: de"})) == "HIT");
    const std::string other = "/api/channels/2?cache_control=max-age=300";
    REQUIRE(miss(other) == "MISS");
    CHECK(purge(gw, "url", "http://127.0.0.1:" + std::to_string(gw.port()) + p) == 2);
    CHECK(purge(gw, "url", "http://127.0.0.1:" + std::to_string(gw.port()) + p) == 0);
    CHECK(miss(p, {"Accept-Language: en"}) == "MISS");
    CHECK(miss(p, {"Accept-Language: de"}) == "MISS");
    CHECK(x_cache(get(other)) == "HIT");
    // A path without scheme and host works too.
    CHECK(purge(gw, "url", other) == 1);
    CHECK(x_cache(get(other)) == "MISS");
    CHECK(svc.stat("requests") == 6);
  }
  SUBCASE("by prefix") {
    const std::string c1 = "/api/chat/1?cache_control=max-age=300", c2 = "/api/chat/2?cache_control=max-age=300";
    const std::string keep = "/api/channels/1?cache_control=max-age=300";
    for (const auto& p : {c1, c2, keep}) REQUIRE(miss(p) == "MISS");
    CHECK(purge(gw, "prefix", "/api/chat/") == 2);
    CHECK(miss(c1) == "MISS");
    CHECK(miss(c2) == "MISS");
    CHECK(x_cache(get(keep)) == "HIT");
    CHECK(purge(gw, "prefix", "http://127.0.0.1:" + std::to_string(gw.port()) + "/api/") == 3);
    CHECK(x_cache(get(keep)) == "MISS");
  }
  SUBCASE("by tag") {
    const std::string ab = "/api/recommended/1?cache_control=max-age=300&header=Surrogate-Key:%20a%20b";
    const std::string bc = "/api/recommended/2?cache_control=max-age=300&header=Surrogate-Key:%20b%20c";
    const std::string none = "/api/recommended/3?cache_control=max-age=300";
    for (const auto& p : {ab, bc, none}) REQUIRE(miss(p) == "MISS");
    CHECK(get(ab).header("Surrogate-Key") == "a b");
    CHECK(purge(gw, "tag", "a") == 1);
    CHECK(miss(ab) == "MISS");
    CHECK(x_cache(get(bc)) == "HIT");
    CHECK(purge(gw, "tag", "b") == 2);  // ab again (refilled above) and bc
    CHECK(purge(gw, "tag", "c") == 0);
    CHECK(x_cache(get(ab)) == "MISS");
    CHECK(x_cache(get(bc)) == "MISS");
    CHECK(x_cache(get(none)) == "HIT");
  }
  SUBCASE("not on the public port") {
    const std::string p = "/api/channels/3?cache_control=max-age=300";
    REQUIRE(miss(p) == "MISS");
    auto r = post(url(gw.port(), "/purge?url=" + pct(p)), {}, "");
    CHECK(r.status == 404);  // proxied to the instance, which has no /purge
    CHECK(r.body.find("\"purged\"") == std::string::npos);
    auto r2 = post(url(gw.port(), "/purge?prefix=%2F"), {}, "");
    CHECK(r2.status == 404);
    CHECK(x_cache(get(p)) == "HIT");
    // On the admin port, only POST purges.
    auto g = http_get(url(gw.admin_port(), "/purge?url=" + pct(p)));
    CHECK(g.status == 405);
    CHECK(x_cache(get(p)) == "HIT");
    auto bad = post(url(gw.admin_port(), "/purge"), {}, "");
    CHECK(bad.status == 400);
  }
}

// ------------------------------------------------------------------ invalidation

TEST_CASE("cache: a successful POST invalidates the URL and its Location") {
  TempDir dir;
  SampleService svc(dir);
  Gateway gw(dir, config(dir, svc));
  const std::string p = "/api/channels/1?cache_control=max-age=300";
  auto u = url(gw.port(), p);
  REQUIRE(x_cache(fill(gw, u)) == "MISS");
  REQUIRE(x_cache(http_get(u)) == "HIT");

  // Another URL's POST changes nothing here.
  auto other = post(url(gw.port(), "/api/channels/1?other=1"));
  CHECK(other.status == 200);
  CHECK(x_cache(http_get(u)) == "HIT");

  auto r = post(u, {"Content-Type: application/json"}, "{\"title\":\"new\"}");
  CHECK(r.status == 200);
  CHECK(x_cache(r) == "BYPASS");
  CHECK(r.body.find("\"method\":\"POST\"") != std::string::npos);
  auto after = fill(gw, u);
  CHECK(x_cache(after) == "MISS");
  CHECK(x_cache(http_get(u)) == "HIT");

  // Location on the same host is invalidated too (the route's ttl makes
  // /api/channels/7 cacheable without a query).
  auto u7 = url(gw.port(), "/api/channels/7");
  REQUIRE(x_cache(fill(gw, u7)) == "MISS");
  REQUIRE(x_cache(http_get(u7)) == "HIT");
  auto loc = post(url(gw.port(), "/api/channels/8?header=Location:/api/channels/7"));
  CHECK(loc.status == 200);
  CHECK(loc.header("Location") == "/api/channels/7");
  CHECK(x_cache(http_get(u7)) == "MISS");
  for (const char* method : {"PUT", "DELETE", "PATCH"}) {
    INFO(method);
    REQUIRE(x_cache(http_get(u)) == "HIT");
    Client c;
    Request req;
    req.method = method;
    req.url = u;
    auto m = c.send(req);
    CHECK(m.status == 200);
    CHECK(x_cache(m) == "BYPASS");
    CHECK(x_cache(fill(gw, u)) == "MISS");
  }
}
