// Fleet mode end to end (issue 5): a real redis-server, two gateway
// processes sharing it, one sample-service instance behind both. A fill on
// one gateway is a hit on the other; concurrent misses across the fleet make
// one upstream request; a purge on one gateway reaches Redis and the other
// gateway; Redis entries expire with the response's freshness; entries over
// max_entry_bytes stay local; Redis stopped, frozen or absent never fails a
// request, and sharing resumes once it is back.
//
// Cache keys hold the Host header: every request names the same host
// (fleet.test) whichever gateway it goes to. The instance's /stats
// "requests" counts what reached the fleet's upstream. Nothing sleeps
// blindly: the tests poll Redis (a raw RESP client), the metrics or the
// gateways until the expected state shows.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include <signal.h>

#include "harness.hpp"

using namespace itest;

namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kHost = "fleet.test";

std::string x_cache(const Response& r) { return r.header("X-Cache").value_or("(none)"); }
std::string cache_status(const Response& r) { return r.header("Cache-Status").value_or("(none)"); }

struct Options {
  int workers = 1;
  // Extra keys of the zone's redis: block, e.g. ", max_entry_bytes: 4KiB".
  std::string redis_extra;
  // A generous command timeout: two gateways, Redis, the instance and the
  // test share a small machine; the down/frozen tests set their own.
  std::string timeout = "250ms";
  // Extra keys of the route's cache: block, e.g. ", query: ignore".
  std::string cache_extra;
};

std::string gateway_config(const TempDir& dir, const std::string& redis_address, const SampleService& svc,
                           const Options& o) {
  return "workers: " + std::to_string(o.workers) + "\ncaches:\n  main: {path: \"" + dir.file("cache") +
         "\", redis: {address: \"" + redis_address + "\", timeout: " + o.timeout + o.redis_extra +
         "}}\nupstreams:\n" + upstream_yaml("app", {&svc}, "retries: 0\nmax_fails: 0") +
         "routes:\n  - {prefix: /, upstream: app, cache: {zone: main, ttl: 60s" + o.cache_extra + "}}\n";
}

// Redis, the instance, and gateways A and B (each with its own directory:
// config, logs and disk cache).
struct Fleet {
  explicit Fleet(Options o = {})
      : redis(redis_dir), svc(svc_dir), a(a_dir, gateway_config(a_dir, redis.address(), svc, o)),
        b(b_dir, gateway_config(b_dir, redis.address(), svc, o)) {
    // Both subscribers are up, and subscribed, before a test relies on
    // purge broadcasts or "filled" announcements.
    REQUIRE(eventually([&] { return redis_up(a) == 1 && redis_up(b) == 1; }, 10s));
    REQUIRE(eventually([&] { return subscribers(redis, "gw:events") == 2; }, 10s));
  }
  // PUBSUB NUMSUB channel -> [channel, n].
  static std::int64_t subscribers(const RedisServer& r, const std::string& channel) {
    auto v = r.command({"PUBSUB", "NUMSUB", channel});
    return v.elements.size() == 2 ? v.elements[1].integer : -1;
  }
  static double redis_up(const Gateway& g) { return metric(g.metrics(), "gateway_redis_up{zone=\"main\"}").value_or(-1); }

  TempDir redis_dir, svc_dir, a_dir, b_dir;
  RedisServer redis;
  SampleService svc;
  Gateway a, b;
};

Response get(const Gateway& g, const std::string& path, std::vector<std::string> headers = {}) {
  headers.push_back(std::string("Host: ") + kHost);
  return http_get(url(g.port(), path), headers);
}

// A GET and how long it took.
struct Timed {
  Response r;
  Ms took;
};
Timed timed_get(const Gateway& g, const std::string& path) {
  auto t0 = Clock::now();
  auto r = get(g, path);
  return {std::move(r), std::chrono::duration_cast<Ms>(Clock::now() - t0)};
}

double tier_metric(const Gateway& g, std::string_view name) {
  return metric(g.metrics(), std::string(name) + "{zone=\"main\"}").value_or(-1);
}

// The Redis entry keys (gw:e:<cache key>\x1e<vary key>) of the URLs holding `fragment`.
std::vector<std::string> entry_keys(const RedisServer& redis, std::string_view fragment) {
  std::vector<std::string> out;
  for (auto& k : redis.keys("gw:e:*"))
    if (k.find(fragment) != std::string::npos) out.push_back(k);
  return out;
}

// The Redis key of `path`'s entry (no Vary) on host fleet.test.
std::string entry_key(std::string_view path) {
  return std::string("gw:e:GET\x1f") + kHost + "\x1f" + std::string(path) + "\x1e";
}
std::string vary_spec_key(std::string_view path) { return std::string("gw:v:GET\x1f") + kHost + "\x1f" + std::string(path); }

// A GET through `g` that fills the cache; returns once the entry is in Redis.
Response fill_shared(const Gateway& g, const RedisServer& redis, const std::string& path,
                     std::vector<std::string> headers = {}) {
  auto r = get(g, path, headers);
  CHECK(r.status == 200);
  CHECK(x_cache(r) == "MISS");
  CHECK_MESSAGE(eventually([&] { return !entry_keys(redis, path).empty(); }, 5s), "not in Redis: " << path);
  return r;
}

Response post(const std::string& u) {
  Client c;
  Request r;
  r.method = "POST";
  r.url = u;
  return c.send(r);
}

struct PurgeResult {
  std::int64_t purged = -1, purged_shared = -1;
};
PurgeResult purge(const Gateway& g, std::string_view what, std::string_view value) {
  auto r = post(url(g.admin_port(), "/purge?" + std::string(what) + "=" + pct(value)));
  INFO("purge " << what << "=" << value << ": " << r.status << " " << r.body);
  CHECK(r.status == 200);
  return {json_int(r.body, "purged").value_or(-1), json_int(r.body, "purged_shared").value_or(-1)};
}

// Error-log lines at warn or error level that mention Redis.
std::vector<std::string> redis_complaints(const Gateway& g) {
  std::vector<std::string> out;
  const std::string text = g.error_log();
  std::string_view log = text;
  while (!log.empty()) {
    auto nl = log.find('\n');
    auto line = log.substr(0, nl);
    if ((line.find("[warn]") != std::string_view::npos || line.find("[error]") != std::string_view::npos) &&
        (line.find("redis") != std::string_view::npos || line.find("Redis") != std::string_view::npos))
      out.emplace_back(line);
    if (nl == std::string_view::npos) break;
    log.remove_prefix(nl + 1);
  }
  return out;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

std::int64_t ttl_of(const Response& r) {
  auto cs = cache_status(r);
  auto pos = cs.find("ttl=");
  return pos == std::string::npos ? -1 : std::stoll(cs.substr(pos + 4));
}

}  // namespace

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

// ------------------------------------------------------------------ Redis trouble

TEST_CASE("fleet: Redis stopped mid-run: every request succeeds quickly, one log line, and once restarted sharing resumes") {
  Fleet f;
  const std::string warm = "/api/channels/1?cache_control=max-age=300";
  fill_shared(f.a, f.redis, warm);
  REQUIRE(x_cache(get(f.b, warm)) == "HIT");
  CHECK(redis_complaints(f.a).empty());
  CHECK(redis_complaints(f.b).empty());

  // Traffic on both gateways throughout: fresh keys (misses that ask Redis
  // and try the lock) and the warm key (local hits). Keys differ per
  // gateway, so no request waits on the other gateway's fill lock.
  std::atomic<bool> stop{false};
  std::atomic<int> done{0};
  std::vector<Timed> results;
  std::mutex mu;
  std::thread traffic([&] {
    for (int i = 0; !stop.load(); ++i) {
      const Gateway& g = i % 2 ? f.b : f.a;
      std::string p = i % 3 == 0 ? warm
                                 : "/api/channels/" + std::to_string(1000 + i) + "?cache_control=max-age=300";
      auto t = timed_get(g, p);
      std::lock_guard lock(mu);
      results.push_back(std::move(t));
      done.fetch_add(1);
    }
  });
  auto wait_requests = [&](int n) {
    int target = done.load() + n;
    return eventually([&] { return done.load() >= target; }, 30s);
  };

  CHECK(wait_requests(10));
  f.redis.stop();
  CHECK(eventually([&] { return Fleet::redis_up(f.a) == 0 && Fleet::redis_up(f.b) == 0; }, 5s));
  CHECK(wait_requests(40));

  stop.store(true);
  traffic.join();
  int failed = 0;
  Ms slowest{0};
  for (const auto& t : results) {
    if (t.r.status != 200) ++failed;
    slowest = std::max(slowest, t.took);
  }
  INFO(results.size() << " requests, slowest " << slowest.count() << " ms");
  CHECK(results.size() >= 50);
  CHECK(failed == 0);
  CHECK(slowest < 1s);

  // While it is down: misses fill locally, hits stay hits.
  const std::string down = "/api/channels/9?cache_control=max-age=300";
  auto before = f.svc.stat("requests");
  auto m1 = timed_get(f.a, down);
  CHECK(m1.r.status == 200);
  CHECK(x_cache(m1.r) == "MISS");
  CHECK(eventually([&] { return x_cache(get(f.a, down)) == "HIT"; }, 5s));
  auto m2 = timed_get(f.b, down);
  CHECK(m2.r.status == 200);
  CHECK(x_cache(m2.r) == "MISS");  // nothing shared while Redis is away
  CHECK(f.svc.stat("requests") == before + 2);
  CHECK(x_cache(get(f.b, warm)) == "HIT");
  CHECK(m1.took < 1s);
  CHECK(m2.took < 1s);
  CHECK(tier_metric(f.a, "gateway_redis_errors_total") > 0);

  // One line about the loss per gateway, however many requests met it.
  INFO("A:\n" << joined(redis_complaints(f.a)) << "B:\n" << joined(redis_complaints(f.b)));
  CHECK(redis_complaints(f.a).size() == 1);
  CHECK(redis_complaints(f.b).size() == 1);

  // Back on the same port: sharing resumes (reconnects back off up to 5 s).
  f.redis.start();
  CHECK(eventually([&] { return Fleet::redis_up(f.a) == 1 && Fleet::redis_up(f.b) == 1; }, 15s));
  CHECK(eventually([&] { return Fleet::subscribers(f.redis, "gw:events") == 2; }, 5s));
  int round = 0;
  bool shared = eventually(
      [&] {
        std::string p = "/api/channels/" + std::to_string(2000 + ++round) + "?cache_control=max-age=300";
        if (get(f.a, p).status != 200) return false;
        if (!eventually([&] { return !entry_keys(f.redis, p).empty(); }, 1s)) return false;
        auto r = get(f.b, p);
        return x_cache(r) == "HIT" && cache_status(r).ends_with("; detail=shared-tier");
      },
      20s);
  CHECK(shared);
  // B's subscriber subscribed again: purges on A reach it.
  auto received = tier_metric(f.b, "gateway_redis_purges_received_total");
  purge(f.a, "prefix", "/api/channels/");
  CHECK(eventually([&] { return tier_metric(f.b, "gateway_redis_purges_received_total") == received + 1; }, 5s));
  CHECK(redis_complaints(f.a).size() == 1);
  CHECK(redis_complaints(f.b).size() == 1);
  CHECK(f.a.error_log().find("connected again") != std::string::npos);
  CHECK(f.b.error_log().find("connected again") != std::string::npos);
}

TEST_CASE("fleet: Redis frozen (accepts, never answers): requests succeed within the Redis timeout") {
  Options o;
  o.timeout = "100ms";
  Fleet f(o);
  const std::string warm = "/api/channels/1?cache_control=max-age=300";
  fill_shared(f.a, f.redis, warm);
  f.redis.freeze();
  Ms slowest{0};
  for (int i = 0; i < 6; ++i) {
    const Gateway& g = i % 2 ? f.b : f.a;
    auto t = timed_get(g, "/api/channels/" + std::to_string(3000 + i) + "?cache_control=max-age=300");
    CHECK(t.r.status == 200);
    CHECK(x_cache(t.r) == "MISS");
    slowest = std::max(slowest, t.took);
  }
  auto hit = timed_get(f.b, warm);  // B never had it: asks Redis, gives up, fetches
  CHECK(hit.r.status == 200);
  slowest = std::max(slowest, hit.took);
  INFO("slowest " << slowest.count() << " ms");
  CHECK(slowest < 1s);
  CHECK(tier_metric(f.a, "gateway_redis_errors_total") > 0);
  CHECK(tier_metric(f.b, "gateway_redis_errors_total") > 0);
  f.redis.thaw();
  int round = 0;
  CHECK(eventually(
      [&] {
        std::string p = "/api/channels/" + std::to_string(4000 + ++round) + "?cache_control=max-age=300";
        get(f.a, p);
        if (!eventually([&] { return !entry_keys(f.redis, p).empty(); }, 1s)) return false;
        return cache_status(get(f.b, p)).ends_with("; detail=shared-tier");
      },
      20s));
}

TEST_CASE("fleet: Redis unreachable from the start: the gateway starts, serves and caches locally, and shares once it appears") {
  TempDir redis_dir, svc_dir, dir;
  RedisServer redis(redis_dir);
  redis.stop();  // its port now refuses connections
  REQUIRE_FALSE(can_connect(redis.port()));
  SampleService svc(svc_dir);
  Gateway gw(dir, gateway_config(dir, redis.address(), svc, Options{}));

  const std::string p = "/api/channels/1?cache_control=max-age=300";
  auto r1 = timed_get(gw, p);
  CHECK(r1.r.status == 200);
  CHECK(x_cache(r1.r) == "MISS");
  CHECK(r1.took < 1s);
  CHECK(eventually([&] { return x_cache(get(gw, p)) == "HIT"; }, 5s));
  auto r2 = timed_get(gw, p);
  CHECK(x_cache(r2.r) == "HIT");
  CHECK(r2.took < 1s);
  CHECK(svc.stat("requests") == 1);
  CHECK(tier_metric(gw, "gateway_redis_up") == 0);
  CHECK(tier_metric(gw, "gateway_redis_errors_total") > 0);
  CHECK(gw.status().find("\"redis\":{\"up\":false") != std::string::npos);
  INFO("error log:\n" << gw.error_log());
  CHECK(redis_complaints(gw).size() <= 1);

  // Redis appears: the gateway connects (backoff up to 5 s) and fills it.
  redis.start();
  CHECK(eventually([&] { return tier_metric(gw, "gateway_redis_up") == 1; }, 15s));
  int round = 0;
  CHECK(eventually(
      [&] {
        std::string q = "/api/channels/" + std::to_string(5000 + ++round) + "?cache_control=max-age=300";
        get(gw, q);
        return eventually([&] { return !entry_keys(redis, q).empty(); }, 1s);
      },
      20s));
}

TEST_CASE("fleet: Redis unreachable at start-up is said once in the error log") {
  TempDir svc_dir, dir;
  SampleService svc(svc_dir);
  Gateway gw(dir, gateway_config(dir, "127.0.0.1:" + std::to_string(free_port()), svc, Options{}));
  for (int i = 0; i < 5; ++i) CHECK(get(gw, "/api/channels/" + std::to_string(6000 + i)).status == 200);
  // The subscriber retries with backoff; give it a few attempts.
  CHECK(eventually([&] { return tier_metric(gw, "gateway_redis_errors_total") >= 5; }, 5s));
  INFO("error log:\n" << gw.error_log());
  CHECK(eventually([&] { return redis_complaints(gw).size() == 1; }, 2s));
  CHECK(redis_complaints(gw).size() == 1);
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
