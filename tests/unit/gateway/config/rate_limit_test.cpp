// Tests for the limits in the configuration (gateway/config/rate_limit.cpp):
// a route's `limit:`, the top-level default, `max_conns_per_client`; each
// mistake at the node at fault.
#include <doctest/doctest.h>

#include <string>

#include "config_check.hpp"
#include "gateway/config.hpp"

using namespace gateway;
using namespace gateway::config::testing;

namespace {

constexpr ErrorCase kLimitErrors[] = {
    {"a rate without a unit", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    limit: {rate: 10}
)", 5, 19, "invalid rate \"10\""},

    {"a rate per hour", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    limit: {rate: 10r/h}
)", 5, 19, "invalid rate \"10r/h\""},

    {"a rate of zero", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    limit:
      rate: 0r/s
)", 6, 13, "invalid rate \"0r/s\""},

    {"no rate", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    limit: {burst: 5}
)", 5, 12, "rate"},

    {"a negative burst", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    limit: {rate: 1r/s, burst: -1}
)", 5, 32, "burst"},

    {"nodelay not a bool", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    limit: {rate: 1r/s, nodelay: yes please}
)", 5, 34, "expected true or false"},

    {"delay with nodelay", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    limit: {rate: 1r/s, burst: 8, nodelay: true, delay: 4}
)", 5, 57, "delay and nodelay exclude each other"},

    {"delay over burst", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    limit: {rate: 1r/s, burst: 8, delay: 9}
)", 5, 42, "delay 9 is over burst 8"},

    {"an unknown key kind", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    limit: {rate: 1r/s, key: "query:id"}
)", 5, 30, "unknown key \"query:id\""},

    {"a header key without a name", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    limit: {rate: 1r/s, key: "header:"}
)", 5, 30, "invalid header name"},

    {"a cookie name with a space", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    limit: {rate: 1r/s, key: "cookie:a b"}
)", 5, 30, "invalid cookie name"},

    {"a status that is no error", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    limit: {rate: 1r/s, status: 200}
)", 5, 33, "status"},

    {"an unknown option", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    limit: {rate: 1r/s, zone: one}
)", 5, 25, "zone"},

    {"limit as a word other than off", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    limit: on
)", 5, 12, "expected a map"},

    {"the top-level default checked the same way", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
limit: {rate: fast}
routes:
  - prefix: /
    upstream: app
)", 2, 15, "invalid rate \"fast\""},

    {"max_conns_per_client negative", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
max_conns_per_client: -3
routes:
  - prefix: /
    upstream: app
)", 2, 23, "max_conns_per_client"},
};

}  // namespace

TEST_CASE("config limit: each mistake at the node at fault") { check_errors(kLimitErrors); }

TEST_CASE("config limit: a route's rule, its defaults, off, and the top-level default") {
  auto config = load_ok(R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
limit: {rate: 30r/m}
max_conns_per_client: 20
routes:
  - prefix: /a
    upstream: app
    limit: {rate: 100r/s, burst: 50, nodelay: true, key: "header:X-Api-Key", status: 503, max_keys: 1000}
  - prefix: /b
    upstream: app
    limit: {rate: 2r/s, burst: 12, delay: 8, key: "cookie:session"}
  - prefix: /c
    upstream: app
    limit: off
  - prefix: /d
    upstream: app
)");
  CHECK(config->max_conns_per_client == 20);
  REQUIRE(config->limit);
  CHECK(config->limit->rate == 500);  // 30r/m in thousandths per second
  const auto& a = *config->routes[0].limit;
  CHECK(a.rate == 100'000);
  CHECK(a.burst == 50);
  CHECK(a.nodelay);
  CHECK(a.key == limit::KeyKind::header);
  CHECK(a.key_name == "X-Api-Key");
  CHECK(a.status == 503);
  CHECK(a.max_keys == 1000);
  const auto& b = *config->routes[1].limit;
  CHECK(b.burst == 12);
  CHECK(b.delay == 8);
  CHECK_FALSE(b.nodelay);
  CHECK(b.key == limit::KeyKind::cookie);
  CHECK(b.status == 429);
  CHECK(b.max_keys == 16384);
  CHECK(config->routes[2].limit->off);
  CHECK_FALSE(config->routes[3].limit);  // the top-level default applies (rate_limit.hpp build_limiters)
}

TEST_CASE("config limit: none by default") {
  auto config = load_ok(R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
)");
  CHECK_FALSE(config->limit);
  CHECK(config->max_conns_per_client == 0);
  CHECK_FALSE(config->routes[0].limit);
}
