// Helpers shared by the fleet-mode end-to-end tests
// (tests/integration/fleet_*_test.cpp): Fleet, a real redis-server, one
// sample-service instance and gateways A and B sharing them, its Options and
// gateway configuration; requests on host fleet.test, the Redis keys of an
// entry, fill_shared() (a GET that returns once the entry is in Redis),
// purges and the ttl a Cache-Status reports. Helpers only one of those files
// needs stay in it.
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "harness.hpp"

namespace itest::fleet_test {

using Clock = std::chrono::steady_clock;

inline constexpr const char* kHost = "fleet.test";

inline std::string x_cache(const Response& r) { return r.header("X-Cache").value_or("(none)"); }
inline std::string cache_status(const Response& r) { return r.header("Cache-Status").value_or("(none)"); }

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

inline std::string gateway_config(const TempDir& dir, const std::string& redis_address, const SampleService& svc,
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

inline Response get(const Gateway& g, const std::string& path, std::vector<std::string> headers = {}) {
  headers.push_back(std::string("Host: ") + kHost);
  return http_get(url(g.port(), path), headers);
}

inline double tier_metric(const Gateway& g, std::string_view name) {
  return metric(g.metrics(), std::string(name) + "{zone=\"main\"}").value_or(-1);
}

// The Redis entry keys (gw:e:<cache key>\x1e<vary key>) of the URLs holding `fragment`.
inline std::vector<std::string> entry_keys(const RedisServer& redis, std::string_view fragment) {
  std::vector<std::string> out;
  for (auto& k : redis.keys("gw:e:*"))
    if (k.find(fragment) != std::string::npos) out.push_back(k);
  return out;
}

// The Redis key of `path`'s entry (no Vary) on host fleet.test.
inline std::string entry_key(std::string_view path) {
  return std::string("gw:e:GET\x1f") + kHost + "\x1f" + std::string(path) + "\x1e";
}
inline std::string vary_spec_key(std::string_view path) {
  return std::string("gw:v:GET\x1f") + kHost + "\x1f" + std::string(path);
}

// A GET through `g` that fills the cache; returns once the entry is in Redis.
inline Response fill_shared(const Gateway& g, const RedisServer& redis, const std::string& path,
                            std::vector<std::string> headers = {}) {
  auto r = get(g, path, headers);
  CHECK(r.status == 200);
  CHECK(x_cache(r) == "MISS");
  CHECK_MESSAGE(eventually([&] { return !entry_keys(redis, path).empty(); }, 5s), "not in Redis: " << path);
  return r;
}

inline Response post(const std::string& u) {
  Client c;
  Request r;
  r.method = "POST";
  r.url = u;
  return c.send(r);
}

struct PurgeResult {
  std::int64_t purged = -1, purged_shared = -1;
};
inline PurgeResult purge(const Gateway& g, std::string_view what, std::string_view value) {
  auto r = post(url(g.admin_port(), "/purge?" + std::string(what) + "=" + pct(value)));
  INFO("purge " << what << "=" << value << ": " << r.status << " " << r.body);
  CHECK(r.status == 200);
  return {json_int(r.body, "purged").value_or(-1), json_int(r.body, "purged_shared").value_or(-1)};
}

inline std::int64_t ttl_of(const Response& r) {
  auto cs = cache_status(r);
  auto pos = cs.find("ttl=");
  return pos == std::string::npos ? -1 : std::stoll(cs.substr(pos + 4));
}

}  // namespace itest::fleet_test
