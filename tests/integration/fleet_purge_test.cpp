// Fleet mode end to end (issue 5), purges: a purge on gateway A by URL,
// prefix or tag removes the entries from Redis and from gateway B. A real
// redis-server, two gateway processes sharing it, one sample-service instance
// behind both; shared helpers are in fleet_fixture.hpp.
//
// Cache keys hold the Host header: every request names the same host
// (fleet.test) whichever gateway it goes to. The instance's /stats "requests"
// counts what reached the fleet's upstream. Nothing sleeps blindly: the tests
// poll Redis (a raw RESP client), the metrics or the gateways until the
// expected state shows.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "fleet_fixture.hpp"
#include "harness.hpp"

using namespace itest;
using namespace itest::fleet_test;

// ------------------------------------------------------------------ purge

TEST_CASE("fleet: a purge on A (URL, prefix, tag) removes the entries from Redis and from B") {
  Fleet f;
  auto purges_received = [&] { return tier_metric(f.b, "gateway_redis_purges_received_total"); };
  // Filled through A, then taken by B from Redis: both hold local copies.
  auto everywhere = [&](const std::string& p) {
    auto before = f.svc.stat("requests");
    fill_shared(f.a, f.redis, p);
    auto r = get(f.b, p);
    CHECK(x_cache(r) == "HIT");
    CHECK(cache_status(r).ends_with("; detail=shared-tier"));
    REQUIRE(f.svc.stat("requests") == before + 1);
  };
  // After a purge broadcast reached B: B's next request misses and reaches the instance.
  auto b_misses = [&](const std::string& p) {
    auto before = f.svc.stat("requests");
    auto r = get(f.b, p);
    CHECK(r.status == 200);
    CHECK(x_cache(r) == "MISS");
    CHECK(f.svc.stat("requests") == before + 1);
  };
  auto b_hits = [&](const std::string& p) {
    auto before = f.svc.stat("requests");
    auto r = get(f.b, p);
    CHECK(x_cache(r) == "HIT");
    CHECK(f.svc.stat("requests") == before);
  };

  SUBCASE("by URL") {
    const std::string p = "/api/channels/1?cache_control=max-age=300";
    const std::string other = "/api/channels/2?cache_control=max-age=300";
    everywhere(p);
    everywhere(other);
    auto res = purge(f.a, "url", std::string("http://") + kHost + p);
    CHECK(res.purged == 1);
    CHECK(res.purged_shared == 1);
    CHECK_FALSE(f.redis.exists(entry_key(p)));
    CHECK_FALSE(f.redis.exists(vary_spec_key(p)));
    CHECK(entry_keys(f.redis, p).empty());
    CHECK(f.redis.exists(entry_key(other)));
    REQUIRE(eventually([&] { return purges_received() == 1; }, 5s));
    CHECK(tier_metric(f.b, "gateway_cache_purged_total") == 1);
    b_misses(p);
    b_hits(other);
  }
  SUBCASE("by prefix") {
    const std::string c1 = "/api/chat/1?cache_control=max-age=300", c2 = "/api/chat/2?cache_control=max-age=300";
    const std::string keep = "/api/channels/1?cache_control=max-age=300";
    for (const auto& p : {c1, c2, keep}) everywhere(p);
    auto res = purge(f.a, "prefix", "/api/chat/");
    CHECK(res.purged == 2);
    CHECK(res.purged_shared == 2);
    CHECK(entry_keys(f.redis, "/api/chat/").empty());
    CHECK(f.redis.keys("gw:v:*/api/chat/*").empty());
    CHECK(f.redis.exists(entry_key(keep)));
    REQUIRE(eventually([&] { return purges_received() == 1; }, 5s));
    CHECK(tier_metric(f.b, "gateway_cache_purged_total") == 2);
    b_misses(c1);
    b_misses(c2);
    b_hits(keep);
  }
  SUBCASE("by tag") {
    const std::string ab = "/api/recommended/1?cache_control=max-age=300&header=Surrogate-Key:%20a%20b";
    const std::string bc = "/api/recommended/2?cache_control=max-age=300&header=Surrogate-Key:%20b%20c";
    for (const auto& p : {ab, bc}) everywhere(p);
    CHECK(f.redis.command({"SCARD", "gw:t:a"}).integer == 1);
    CHECK(f.redis.command({"SCARD", "gw:t:b"}).integer == 2);
    CHECK(f.redis.pttl("gw:t:a") > 0);  // a tag's set expires with its entries
    auto res = purge(f.a, "tag", "a");
    CHECK(res.purged == 1);
    CHECK(res.purged_shared == 1);
    CHECK_FALSE(f.redis.exists("gw:t:a"));
    CHECK_FALSE(f.redis.exists(entry_key(ab)));
    CHECK(f.redis.exists(entry_key(bc)));
    REQUIRE(eventually([&] { return purges_received() == 1; }, 5s));
    b_misses(ab);
    b_hits(bc);
  }
}
