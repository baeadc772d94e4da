// Fleet mode end to end (issue 5), what Redis keeps and for how long: entries
// expire with the response's remaining freshness, damaged or misplaced values
// are never served, entries over max_entry_bytes stay local. A real redis-
// server, two gateway processes sharing it, one sample-service instance
// behind both; shared helpers are in fleet_fixture.hpp.
//
// Cache keys hold the Host header: every request names the same host
// (fleet.test) whichever gateway it goes to. The instance's /stats "requests"
// counts what reached the fleet's upstream. Nothing sleeps blindly: the tests
// poll Redis (a raw RESP client), the metrics or the gateways until the
// expected state shows.
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <vector>

#include "fleet_fixture.hpp"
#include "harness.hpp"

using namespace itest;
using namespace itest::fleet_test;

// ------------------------------------------------------------------ expiry

TEST_CASE("fleet: an entry expires in Redis with the response's freshness, and so does B's copy of it") {
  Fleet f;
  const std::string p = "/api/channels/3?cache_control=max-age=2";
  fill_shared(f.a, f.redis, p);
  auto shared = get(f.b, p);
  CHECK(cache_status(shared).ends_with("; detail=shared-tier"));
  CHECK(ttl_of(shared) >= 0);
  CHECK(ttl_of(shared) <= 2);
  auto pttl = f.redis.pttl(entry_key(p));
  INFO("PTTL " << pttl);
  CHECK(pttl > 0);
  CHECK(pttl <= 2000);
  auto vttl = f.redis.pttl(vary_spec_key(p));
  CHECK(vttl > 0);
  CHECK(vttl <= 2000);
  // Gone once its freshness has passed (polled, at most a few seconds).
  CHECK(eventually([&] { return !f.redis.exists(entry_key(p)) && !f.redis.exists(vary_spec_key(p)); }, 6s));
  // B's copy (taken from Redis) went stale with it, and Redis has nothing:
  // the request reaches the instance.
  auto r = get(f.b, p);
  CHECK(r.status == 200);
  CHECK(x_cache(r) != "HIT");
  CHECK(f.svc.stat("requests") == 2);
}

TEST_CASE("fleet: the Redis expiry is the REMAINING freshness (an upstream Age counts)") {
  Fleet f;
  // max-age=60 and already 50 s old: 10 s left.
  const std::string p = "/api/channels/16?cache_control=max-age=60&header=Age:%2050";
  fill_shared(f.a, f.redis, p);
  auto pttl = f.redis.pttl(entry_key(p));
  INFO("PTTL " << pttl);
  CHECK(pttl > 7000);
  CHECK(pttl <= 10000);
  auto b = get(f.b, p);
  CHECK(cache_status(b).ends_with("; detail=shared-tier"));
  CHECK(std::stoll(b.header("Age").value_or("-1")) >= 50);
  CHECK(ttl_of(b) <= 10);
}

TEST_CASE("fleet: a damaged or misplaced value in Redis is never served") {
  Fleet f;
  const std::string good = "/api/channels/17?cache_control=max-age=60";
  const std::string garbage = "/api/channels/18?cache_control=max-age=60";
  const std::string moved = "/api/channels/19?cache_control=max-age=60";
  fill_shared(f.a, f.redis, good);
  auto value = f.redis.command({"GET", entry_key(good)});
  REQUIRE(value.type == '$');
  // Garbage under a key, and a valid entry copied under another URL's key.
  for (const auto& [path, v] : {std::pair{garbage, std::string("GWR1\xff\xff\xff\x7fnot an entry")},
                                std::pair{moved, value.str}}) {
    REQUIRE(f.redis.command({"SET", entry_key(path), v, "PX", "60000"}).str == "OK");
    REQUIRE(f.redis.command({"SET", vary_spec_key(path), "", "PX", "60000"}).str == "OK");
  }
  auto before = f.svc.stat("requests");
  auto misses = tier_metric(f.b, "gateway_redis_misses_total");
  for (const auto& path : {garbage, moved}) {
    auto r = get(f.b, path);
    CHECK(r.status == 200);
    CHECK(x_cache(r) == "MISS");
  }
  CHECK(f.svc.stat("requests") == before + 2);
  CHECK(tier_metric(f.b, "gateway_redis_misses_total") == misses + 2);
  CHECK(tier_metric(f.b, "gateway_redis_hits_total") == 0);
  // B's own fills replaced them.
  CHECK(eventually([&] { return f.redis.command({"GET", entry_key(moved)}).str != value.str; }, 5s));
}

// ------------------------------------------------------------------ size limit

TEST_CASE("fleet: an entry over max_entry_bytes stays local") {
  Options o;
  o.redis_extra = ", max_entry_bytes: 4KiB";
  Fleet f(o);
  const std::string big = "/api/channels/4?cache_control=max-age=60&size=10000";
  const std::string small = "/api/channels/5?cache_control=max-age=60&size=1000";

  auto r1 = get(f.a, big);
  CHECK(x_cache(r1) == "MISS");
  CHECK(r1.body.size() == 10000);
  // A has it on disk (a local hit)...
  CHECK(eventually([&] { return x_cache(get(f.a, big)) == "HIT"; }, 5s));
  CHECK(f.svc.stat("requests") == 1);
  // ... a small one goes to Redis (and, being filled after the big one on the
  // same connection, shows that the big one had its turn) ...
  fill_shared(f.a, f.redis, small);
  CHECK(entry_keys(f.redis, big).empty());
  CHECK(tier_metric(f.a, "gateway_redis_fills_total") == 1);
  // ... and B fetches the big one itself, without waiting for a lock.
  auto t0 = Clock::now();
  auto r2 = get(f.b, big);
  CHECK(Clock::now() - t0 < 1s);
  CHECK(x_cache(r2) == "MISS");
  CHECK(r2.body == r1.body);
  CHECK(f.svc.stat("requests") == 3);
  CHECK(tier_metric(f.b, "gateway_redis_lock_waits_total") == 0);
}
