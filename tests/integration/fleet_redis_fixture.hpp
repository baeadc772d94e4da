// Helpers of the fleet tests on Redis beyond one server (issue 12:
// fleet_cluster_test.cpp, fleet_sentinel_test.cpp, fleet_redis_reload_test.cpp):
// a gateway configuration whose zone's redis: block is given whole, and
// the subscriber count of the fleet's channel on a server.
#pragma once

#include <string>

#include "fleet_fixture.hpp"
#include "harness.hpp"

namespace itest::fleet_test {

// One zone "main" whose `redis:` is `redis` (a flow map), one route caching
// everything for 60s through one sample-service.
inline std::string redis_gateway_config(const TempDir& dir, const std::string& redis, const SampleService& svc) {
  return "workers: 1\ncaches:\n  main: {path: \"" + dir.file("cache") + "\", redis: " + redis +
         "}\nupstreams:\n" + upstream_yaml("app", {&svc}, "retries: 0\nmax_fails: 0") +
         "routes:\n  - {prefix: /, upstream: app, cache: {zone: main, ttl: 60s}}\n";
}

// PUBSUB NUMSUB gw:events on `r`.
inline std::int64_t fleet_subscribers(const RedisServer& r) { return Fleet::subscribers(r, "gw:events"); }

inline double redis_up(const Gateway& g) { return Fleet::redis_up(g); }

}  // namespace itest::fleet_test
