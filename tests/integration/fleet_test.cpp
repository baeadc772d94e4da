// Fleet mode end to end (issue 5): a real redis-server, two gateway processes
// sharing it, one sample-service instance behind both. This file holds
// sharing (a fill on one gateway is a hit on the other, Vary variants,
// Authorization and no-cache), single flight (concurrent misses across the
// fleet make one upstream request) and the fleet lock behind it, and key
// prefixes; fleet_purge_test.cpp holds purges reaching Redis and the other
// gateway, fleet_expiry_test.cpp Redis expiry with the response's freshness,
// damaged values and entries over max_entry_bytes staying local,
// fleet_outage_test.cpp Redis stopped, frozen or absent never failing a
// request and sharing resuming once it is back. Shared helpers are in
// fleet_fixture.hpp.
//
// Cache keys hold the Host header: every request names the same host
// (fleet.test) whichever gateway it goes to. The instance's /stats "requests"
// counts what reached the fleet's upstream. Nothing sleeps blindly: the tests
// poll Redis (a raw RESP client), the metrics or the gateways until the
// expected state shows.
#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <signal.h>

#include "fleet_fixture.hpp"
#include "harness.hpp"

using namespace itest;
using namespace itest::fleet_test;

// ------------------------------------------------------------------ sharing

TEST_CASE("fleet: a fill through gateway A is a hit on gateway B without an upstream request") {
  Fleet f;
  const std::string p = "/api/channels/1?cache_control=max-age=60&size=3000";

  auto r1 = fill_shared(f.a, f.redis, p);
  REQUIRE(r1.status == 200);
  CHECK(r1.body.size() == 3000);
  CHECK(f.svc.stat("requests") == 1);
  // The entry and its Vary spec (empty: no Vary) live exactly under the documented keys.
  CHECK(f.redis.exists(entry_key(p)));
  CHECK(f.redis.exists(vary_spec_key(p)));
  CHECK(f.redis.command({"GET", vary_spec_key(p)}).str.empty());

  auto r2 = get(f.b, p);
  REQUIRE(r2.status == 200);
  CHECK(x_cache(r2) == "HIT");
  INFO("Cache-Status: " << cache_status(r2));
  CHECK(cache_status(r2).rfind("gateway; hit; ttl=", 0) == 0);
  CHECK(cache_status(r2).ends_with("; detail=shared-tier"));
  CHECK(ttl_of(r2) >= 58);
  CHECK(ttl_of(r2) <= 60);
  CHECK(r2.header("Age").has_value());
  CHECK(r2.body == r1.body);
  CHECK(r2.header("Content-Type") == r1.header("Content-Type"));
  CHECK(r2.header("Cache-Control") == "max-age=60");
  CHECK(r2.header("X-Instance") == "svc");
  CHECK(f.svc.stat("requests") == 1);

  // B keeps it on its own disk now: a local hit, no detail.
  auto r3 = get(f.b, p);
  CHECK(x_cache(r3) == "HIT");
  CHECK(cache_status(r3).find("shared-tier") == std::string::npos);
  CHECK(r3.body == r1.body);
  CHECK(f.svc.stat("requests") == 1);

  auto ma = f.a.metrics(), mb = f.b.metrics();
  INFO("A:\n" << ma.substr(ma.find("gateway_redis_")) << "\nB:\n" << mb.substr(mb.find("gateway_redis_")));
  auto m = [](const std::string& text, const char* name) {
    return metric(text, std::string(name) + "{zone=\"main\"}").value_or(-1);
  };
  CHECK(m(ma, "gateway_redis_fills_total") == 1);
  CHECK(m(ma, "gateway_redis_misses_total") == 1);
  CHECK(m(ma, "gateway_redis_hits_total") == 0);
  CHECK(m(mb, "gateway_redis_hits_total") == 1);
  CHECK(m(mb, "gateway_redis_misses_total") == 0);
  CHECK(m(mb, "gateway_redis_fills_total") == 0);
  CHECK(m(ma, "gateway_redis_errors_total") == 0);
  CHECK(m(mb, "gateway_redis_errors_total") == 0);
  CHECK(m(ma, "gateway_redis_lock_waits_total") == 0);
  CHECK(m(mb, "gateway_redis_lock_waits_total") == 0);
  CHECK(m(ma, "gateway_redis_up") == 1);
  CHECK(m(mb, "gateway_redis_up") == 1);
  CHECK(metric(mb, "gateway_cache_responses_total{zone=\"main\",status=\"HIT\"}") == 2);
  CHECK(metric(ma, "gateway_cache_responses_total{zone=\"main\",status=\"MISS\"}") == 1);
  auto st = f.b.status();
  INFO(st);
  CHECK(st.find("\"redis\":{\"up\":true,\"hits\":1}") != std::string::npos);
}

TEST_CASE("fleet: Vary variants are shared one by one, and a variant nobody filled goes upstream") {
  Fleet f;
  const std::string p = "/api/channels/2?cache_control=max-age=60&vary=Accept-Language";
  auto en = fill_shared(f.a, f.redis, p, {"Accept-Language: en"});
  CHECK(f.redis.command({"GET", vary_spec_key(p)}).str == "accept-language");

  auto en_b = get(f.b, p, {"Accept-Language: en"});
  CHECK(x_cache(en_b) == "HIT");
  CHECK(cache_status(en_b).ends_with("; detail=shared-tier"));
  CHECK(en_b.body == en.body);
  CHECK(f.svc.stat("requests") == 1);

  auto de_b = get(f.b, p, {"Accept-Language: de"});
  CHECK(x_cache(de_b) == "MISS");
  CHECK(f.svc.stat("requests") == 2);
  CHECK(eventually([&] { return entry_keys(f.redis, p).size() == 2; }, 5s));
  auto de_a = get(f.a, p, {"Accept-Language: de"});
  CHECK(x_cache(de_a) == "HIT");
  CHECK(cache_status(de_a).ends_with("; detail=shared-tier"));
  CHECK(f.svc.stat("requests") == 2);

  // A purge of the URL takes every variant out of Redis.
  auto res = purge(f.a, "url", std::string("http://") + kHost + p);
  CHECK(res.purged == 2);
  CHECK(res.purged_shared == 2);
  CHECK(entry_keys(f.redis, p).empty());
  CHECK_FALSE(f.redis.exists(vary_spec_key(p)));
}

TEST_CASE("fleet: a short-lived Vary variant does not hide a longer-lived one in Redis") {
  Options o;
  o.cache_extra = ", query: ignore";  // both URLs below share one cache key
  Fleet f(o);
  const std::string long_lived = "/api/channels/12?cache_control=max-age=60&vary=Accept-Language";
  const std::string short_lived = "/api/channels/12?cache_control=max-age=1&vary=Accept-Language";
  const std::string spec = std::string("gw:v:GET\x1f") + kHost + "\x1f/api/channels/12";
  const std::string entries = std::string(kHost) + "\x1f/api/channels/12\x1e";

  auto en = get(f.a, long_lived, {"Accept-Language: en"});
  CHECK(x_cache(en) == "MISS");
  REQUIRE(eventually([&] { return entry_keys(f.redis, entries).size() == 1; }, 5s));
  CHECK(get(f.a, short_lived, {"Accept-Language: de"}).status == 200);
  REQUIRE(eventually([&] { return entry_keys(f.redis, entries).size() == 2; }, 5s));
  const auto spec_pttl = f.redis.pttl(spec);
  INFO("PTTL of the Vary spec after the short-lived fill: " << spec_pttl);
  CHECK(spec_pttl > 2000);

  // Once the short-lived variant expired, the long-lived one is still in Redis...
  REQUIRE(eventually([&] { return entry_keys(f.redis, entries).size() == 1; }, 5s));
  // ... and B should find it there.
  auto b = get(f.b, long_lived, {"Accept-Language: en"});
  CHECK(x_cache(b) == "HIT");
  CHECK(cache_status(b).ends_with("; detail=shared-tier"));
  CHECK(f.svc.stat("requests") == 2);
}

// The shared tier applies the local rules (reusable_with_authorization): a
// request with credentials gets only what may be shared so.
TEST_CASE("fleet: an entry stored for anonymous clients is not served from Redis to a request with Authorization") {
  Fleet f;
  const std::string p = "/api/channels/13?cache_control=max-age=60";
  fill_shared(f.a, f.redis, p);
  // The local cache refuses it (control) ...
  auto before = f.svc.stat("requests");
  CHECK(x_cache(get(f.a, p, {"Authorization: Bearer alice"})) != "HIT");
  CHECK(f.svc.stat("requests") == before + 1);
  // ... and so must the shared tier.
  before = f.svc.stat("requests");
  auto r = get(f.b, p, {"Authorization: Bearer alice"});
  CHECK(r.status == 200);
  CHECK(x_cache(r) != "HIT");
  CHECK(f.svc.stat("requests") == before + 1);
}

TEST_CASE("fleet: a public entry in Redis serves a request with Authorization") {
  Fleet f;
  const std::string pub = "/api/channels/14?cache_control=public,max-age=60";
  fill_shared(f.a, f.redis, pub);
  auto rp = get(f.b, pub, {"Authorization: Bearer alice"});
  CHECK(x_cache(rp) == "HIT");
  CHECK(cache_status(rp).ends_with("; detail=shared-tier"));
  CHECK(f.svc.stat("requests") == 1);
}

// With the route's honor_client_no_cache, a client's no-cache goes upstream
// on a local miss too, not to Redis.
TEST_CASE("fleet: with honor_client_no_cache, a client's no-cache is not answered from Redis") {
  Options o;
  o.cache_extra = ", honor_client_no_cache: true";
  Fleet f(o);
  const std::string p = "/api/channels/15?cache_control=max-age=60";
  fill_shared(f.a, f.redis, p);
  auto before = f.svc.stat("requests");
  auto r = get(f.b, p, {"Cache-Control: no-cache"});
  CHECK(r.status == 200);
  CHECK(x_cache(r) != "HIT");
  CHECK(f.svc.stat("requests") == before + 1);
  // The local cache does go upstream for it (control).
  before = f.svc.stat("requests");
  CHECK(x_cache(get(f.a, p, {"Cache-Control: no-cache"})) != "HIT");
  CHECK(f.svc.stat("requests") == before + 1);
}

// ------------------------------------------------------------------ single flight

TEST_CASE("fleet: 100 concurrent requests for a cold key over both gateways make one upstream request") {
  Options o;
  o.workers = 2;
  Fleet f(o);
  const std::string path = "/api/channels/7?cache_control=max-age=60&delay_ms=300&size=20000";

  // All connections are open before any request leaves; then the requests
  // go out back to back, alternating gateways, well inside the instance's
  // 300 ms.
  constexpr int kClients = 100;
  std::vector<std::unique_ptr<RawConnection>> conns;
  for (int i = 0; i < kClients; ++i)
    conns.push_back(std::make_unique<RawConnection>(i % 2 == 0 ? f.a.port() : f.b.port()));
  const std::string request = "GET " + path + " HTTP/1.1\r\nHost: " + kHost + "\r\n\r\n";
  for (auto& c : conns) REQUIRE(c->send(request));
  std::vector<RawResponse> responses;
  for (auto& c : conns) {
    auto got = parse_responses(c->read_responses(1, 20s));
    responses.push_back(got.empty() ? RawResponse{} : got.front());
  }

  CHECK(f.svc.stat("requests") == 1);
  int ok = 0, same = 0;
  std::set<std::string> statuses;
  for (const auto& r : responses) {
    if (r.status == 200) ++ok;
    if (r.body.size() == 20000 && r.body == responses[0].body) ++same;
    statuses.insert(std::to_string(r.status) + " " + head_header(r.head, "X-Cache").value_or("(none)"));
  }
  std::string seen;
  for (const auto& s : statuses) seen += s + "; ";
  INFO("answers seen: " << seen);
  CHECK(ok == kClients);
  CHECK(same == kClients);
  auto direct = http_get(url(f.svc.port(), path));
  CHECK(direct.body == responses[0].body);

  // One gateway fetched and filled; the other waited for its announcement
  // and took the entry from Redis.
  auto sum = [&](const char* name) { return tier_metric(f.a, name) + tier_metric(f.b, name); };
  CHECK(sum("gateway_redis_fills_total") == 1);
  CHECK(sum("gateway_redis_lock_waits_total") == 1);
  CHECK(sum("gateway_redis_hits_total") == 1);
  CHECK(sum("gateway_redis_errors_total") == 0);
}

// ------------------------------------------------------------------ the fleet lock

TEST_CASE("fleet: a response that cannot be stored releases the fleet lock at once") {
  Options o;
  o.redis_extra = ", lock_timeout: 5s";
  Fleet f(o);
  const std::string p = "/api/channels/8?cache_control=no-store&delay_ms=300";
  // The same cold key on both gateways at once: one holds the lock, the
  // other waits for its announcement, which comes (with nothing stored) as
  // soon as the response turns out not storable, not after lock_timeout.
  RawConnection ca(f.a.port()), cb(f.b.port());
  const std::string request = "GET " + p + " HTTP/1.1\r\nHost: " + kHost + "\r\n\r\n";
  auto t0 = Clock::now();
  REQUIRE(ca.send(request));
  REQUIRE(cb.send(request));
  auto ra = parse_responses(ca.read_responses(1, 15s));
  auto rb = parse_responses(cb.read_responses(1, 15s));
  auto took = std::chrono::duration_cast<Ms>(Clock::now() - t0);
  REQUIRE(ra.size() == 1);
  REQUIRE(rb.size() == 1);
  CHECK(ra[0].status == 200);
  CHECK(rb[0].status == 200);
  INFO("both answered after " << took.count() << " ms");
  CHECK(took < 2s);
  CHECK(f.svc.stat("requests") == 2);  // each fetched for itself
  CHECK(entry_keys(f.redis, "/api/channels/8").empty());
  CHECK(f.redis.keys("gw:l:*").empty());
  CHECK(tier_metric(f.a, "gateway_redis_lock_waits_total") + tier_metric(f.b, "gateway_redis_lock_waits_total") == 1);
}

TEST_CASE("fleet: when the gateway holding the fleet lock dies, the others fetch after lock_timeout") {
  Options o;
  o.redis_extra = ", lock_timeout: 1s";
  Fleet f(o);
  const std::string p = "/api/channels/10?cache_control=max-age=60&delay_ms=1500";
  const std::string lock_key = std::string("gw:l:GET\x1f") + kHost + "\x1f" + p;
  const std::string request = "GET " + p + " HTTP/1.1\r\nHost: " + kHost + "\r\n\r\n";

  RawConnection ca(f.a.port());
  REQUIRE(ca.send(request));
  REQUIRE(eventually([&] { return f.redis.exists(lock_key); }, 5s));
  auto t0 = Clock::now();
  RawConnection cb(f.b.port());
  REQUIRE(cb.send(request));
  REQUIRE(eventually([&] { return tier_metric(f.b, "gateway_redis_lock_waits_total") == 1; }, 5s));
  f.a.process().signal(SIGKILL);  // the filler is gone; its lock stays until it expires

  auto rb = parse_responses(cb.read_responses(1, 15s));
  auto took = std::chrono::duration_cast<Ms>(Clock::now() - t0);
  REQUIRE(rb.size() == 1);
  CHECK(rb[0].status == 200);
  CHECK(head_header(rb[0].head, "X-Cache") == "MISS");
  INFO("B answered after " << took.count() << " ms");
  CHECK(took >= 1s);          // it waited for the filler ...
  CHECK(took < 1s + 1500ms + 1500ms);  // ... lock_timeout, then its own fetch
  CHECK(f.svc.stat("requests") == 2);
  // B's fill reached Redis.
  CHECK(eventually([&] { return !entry_keys(f.redis, p).empty(); }, 5s));
}

// ------------------------------------------------------------------ key prefixes

TEST_CASE("fleet: gateways with another key_prefix on the same Redis share nothing with this fleet") {
  Fleet f;
  TempDir c_dir;
  Options other;
  other.redis_extra = ", key_prefix: \"other:\"";
  Gateway c(c_dir, gateway_config(c_dir, f.redis.address(), f.svc, other));
  REQUIRE(eventually([&] { return Fleet::subscribers(f.redis, "other:events") == 1; }, 10s));

  const std::string p = "/api/channels/11?cache_control=max-age=60";
  fill_shared(f.a, f.redis, p);
  auto rc = get(c, p);
  CHECK(x_cache(rc) == "MISS");  // not in its namespace
  CHECK(f.svc.stat("requests") == 2);
  CHECK(eventually([&] { return f.redis.exists(std::string("other:e:GET\x1f") + kHost + "\x1f" + p + "\x1e"); }, 5s));
  // A's purge is for A's fleet only.
  purge(f.a, "url", std::string("http://") + kHost + p);
  REQUIRE(eventually([&] { return tier_metric(f.b, "gateway_redis_purges_sent_total") == 0 &&
                                  tier_metric(f.a, "gateway_redis_purges_sent_total") == 1; }, 5s));
  CHECK(tier_metric(c, "gateway_redis_purges_received_total") == 0);
  CHECK(x_cache(get(c, p)) == "HIT");
  CHECK(f.redis.exists(std::string("other:e:GET\x1f") + kHost + "\x1f" + p + "\x1e"));
}
