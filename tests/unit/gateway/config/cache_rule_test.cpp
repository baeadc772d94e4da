// Tests for a route's cache rule, `cache:` (read in gateway/config/routes.cpp
// into cache::RuleConfig): every option, the defaults of `cache: ZONE`, and
// each mistake. A rule naming a zone that no section defines is tested with
// the other names routes give, in load_test.cpp.
#include "gateway/config.hpp"

#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

#include "config_check.hpp"

using namespace gateway;
using namespace gateway::config::testing;

namespace {

constexpr ErrorCase kRuleErrors[] = {
    {"unknown key in a route's cache", R"(caches: {main: {path: var/cache}}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    cache:
      zone: main
      tll: 10s
)", 8, 7, "unknown key \"tll\" in routes[0].cache"},

    {"a route cache as a list", R"(caches: {main: {path: var/cache}}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    cache: [main]
)", 6, 12, "routes[0].cache: expected a map, got a list"},

    {"a route cache without a zone", R"(caches: {main: {path: var/cache}}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    cache: {ttl: 10s}
)", 6, 12, "routes[0].cache: missing required key \"zone\""},

    {"a bad cache ttl", R"(caches: {main: {path: var/cache}}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    cache: {zone: main, ttl: soon}
)", 6, 30, "routes[0].cache.ttl: invalid duration \"soon\""},

    {"an unknown query mode", R"(caches: {main: {path: var/cache}}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    cache:
      zone: main
      query: drop
)", 8, 14, "unknown value \"drop\" (expected one of: keep, sorted, ignore)"},

    {"a bad cache boolean", R"(caches: {main: {path: var/cache}}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    cache:
      zone: main
      override: yes
)", 8, 17, "routes[0].cache.override: expected true or false, got \"yes\""},

    {"no lock waiters allowed", R"(caches: {main: {path: var/cache}}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    cache:
      zone: main
      lock_max_waiters: 0
)", 8, 25, "routes[0].cache.lock_max_waiters: 0 is out of range (1..1000000)"},

    {"too many lock waiters", R"(caches: {main: {path: var/cache}}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    cache:
      zone: main
      lock_max_waiters: 1000001
)", 8, 25, "1000001 is out of range (1..1000000)"},

    {"a zero lock timeout", R"(caches: {main: {path: var/cache}}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    cache:
      zone: main
      lock_timeout: 0s
)", 8, 21, "routes[0].cache.lock_timeout: duration \"0s\" must be at least 1ms"},
};

// `valid:`, a TTL per status.
constexpr ErrorCase kValidErrors[] = {
    {"a status code out of range in valid", R"(caches: {main: {path: var/cache}}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    cache: {zone: main, valid: {200: 10s, 600: 1s}}
)", 6, 43, "invalid status code \"600\" in routes[0].cache.valid (100..599)"},

    {"a status code that is not a number", R"(caches: {main: {path: var/cache}}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    cache:
      zone: main
      valid:
        200: 10s
        ok: 1s
)", 10, 9, "invalid status code \"ok\""},

    {"a status code given twice in valid", R"(caches: {main: {path: var/cache}}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    cache:
      zone: main
      valid:
        200: 10s
        404: 1s
        200: 1m
)", 11, 9, "duplicate status \"200\" in routes[0].cache.valid (first at line 9)"},

    {"a status code given twice in two spellings", R"(caches: {main: {path: var/cache}}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    cache:
      zone: main
      valid:
        200: 10s
        0200: 1m
)", 10, 9, "duplicate status 200 in routes[0].cache.valid (first at line 9)"},

    {"a bad duration in valid", R"(caches: {main: {path: var/cache}}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    cache:
      zone: main
      valid: {200: forever}
)", 8, 20, "routes[0].cache.valid.200: invalid duration \"forever\""},

    {"valid as a list", R"(caches: {main: {path: var/cache}}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    cache:
      zone: main
      valid: [200, 10s]
)", 8, 14, "routes[0].cache.valid: expected a map, got a list"},
};

// `key:`, `bypass:` and `use_stale:`: lists of names.
constexpr ErrorCase kNameListErrors[] = {
    {"unknown key in a cache key", R"(caches: {main: {path: var/cache}}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    cache:
      zone: main
      key: {header: [Accept]}
)", 8, 13, "unknown key \"header\" in routes[0].cache.key"},

    {"an unknown use_stale condition", R"(caches: {main: {path: var/cache}}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    cache:
      zone: main
      use_stale: [error, http_404]
)", 8, 26, "routes[0].cache.use_stale[1]: unknown value \"http_404\" (expected one of: error, "
         "timeout, updating, http_500, http_502, http_503, http_504)"},

    {"a use_stale condition listed twice", R"(caches: {main: {path: var/cache}}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    cache:
      zone: main
      use_stale: [timeout, error, timeout]
)", 8, 35, "routes[0].cache.use_stale[2]: \"timeout\" is listed twice"},

    {"a key header listed twice in another case", R"(caches: {main: {path: var/cache}}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    cache:
      zone: main
      key:
        headers:
          - Accept-Language
          - accept-language
)", 11, 13, "routes[0].cache.key.headers[1]: duplicate header \"accept-language\" (first at line 10)"},

    {"a bypass cookie listed twice", R"(caches: {main: {path: var/cache}}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    cache:
      zone: main
      bypass: {cookies: [nocache, nocache]}
)", 8, 35, "routes[0].cache.bypass.cookies[1]: duplicate cookie \"nocache\" (first at line 8)"},

    {"a key header that is not a header name", R"(caches: {main: {path: var/cache}}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    cache:
      zone: main
      key: {headers: ["Accept Language"]}
)", 8, 23, "routes[0].cache.key.headers[0]: invalid header name \"Accept Language\""},

    {"a key cookie that is not a cookie name", R"(caches: {main: {path: var/cache}}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    cache:
      zone: main
      key: {cookies: [session, "a=b"]}
)", 8, 32, "routes[0].cache.key.cookies[1]: invalid cookie name \"a=b\""},

    {"bypass headers as a map", R"(caches: {main: {path: var/cache}}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    cache:
      zone: main
      bypass: {headers: {X-No-Cache: 1}}
)", 8, 25, "routes[0].cache.bypass.headers: expected a list, got a map"},
};

constexpr const char* kZonesAndUpstream = R"(caches:
  main: {path: var/cache/main}
  small.zone-2: {path: var/cache/small}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
)";

}  // namespace

TEST_CASE("config cache rule: a route's cache rule with every option") {
  auto config = load_ok(std::string(kZonesAndUpstream) + R"(routes:
  - prefix: /api/channels/
    upstream: app
    cache:
      zone: small.zone-2
      ttl: 10s
      valid: {200: 10s, 404: 1s, 301: 0s}
      override: true
      query: sorted
      key: {headers: [Accept-Language, X-Tenant], cookies: [session]}
      bypass: {headers: X-No-Cache, cookies: [nocache, NoCache]}
      store_set_cookie: true
      honor_client_no_cache: true
      use_stale: [error, timeout, updating, http_500, http_502, http_503, http_504]
      lock_timeout: 2s
      lock_max_waiters: 50
      background_update_timeout: 45s
)");
  REQUIRE(config->routes[0].cache.has_value());
  const auto& rule = *config->routes[0].cache;
  CHECK(rule.zone == "small.zone-2");
  CHECK(rule.zone_index == 1);
  CHECK(rule.ttl == Duration{10'000});
  const std::vector<std::pair<int, Duration>> valid = {
      {200, Duration{10'000}}, {404, Duration{1'000}}, {301, Duration{0}}};
  CHECK(rule.valid == valid);  // in file order
  CHECK(rule.override);
  CHECK(rule.query == cache::RuleConfig::Query::sorted);
  CHECK(rule.key_headers == std::vector<std::string>{"Accept-Language", "X-Tenant"});
  CHECK(rule.key_cookies == std::vector<std::string>{"session"});
  CHECK(rule.bypass_headers == std::vector<std::string>{"X-No-Cache"});  // one name alone
  CHECK(rule.bypass_cookies == std::vector<std::string>{"nocache", "NoCache"});  // case matters
  CHECK(rule.store_set_cookie);
  CHECK(rule.honor_client_no_cache);
  for (auto c : {cache::StaleIf::error, cache::StaleIf::timeout, cache::StaleIf::updating,
                 cache::StaleIf::http_500, cache::StaleIf::http_502, cache::StaleIf::http_503,
                 cache::StaleIf::http_504}) {
    CHECK(rule.use_stale.has(c));
  }
  CHECK(rule.lock_timeout == Duration{2'000});
  CHECK(rule.lock_max_waiters == 50);
  CHECK(rule.background_update_timeout == Duration{45'000});
}

TEST_CASE("config cache rule: cache: ZONE is the zone alone, with every other default") {
  auto config = load_ok(std::string(kZonesAndUpstream) + R"(routes:
  - path: /api/chat/{id}
    upstream: app
    cache: main
)");
  REQUIRE(config->routes[0].cache.has_value());
  const auto& plain = *config->routes[0].cache;
  CHECK(plain.zone == "main");
  CHECK(plain.zone_index == 0);
  CHECK(plain.ttl == Duration{0});
  CHECK(plain.valid.empty());
  CHECK_FALSE(plain.override);
  CHECK(plain.query == cache::RuleConfig::Query::keep);
  CHECK(plain.key_headers.empty());
  CHECK(plain.key_cookies.empty());
  CHECK(plain.bypass_headers.empty());
  CHECK(plain.bypass_cookies.empty());
  CHECK_FALSE(plain.store_set_cookie);
  CHECK_FALSE(plain.honor_client_no_cache);
  CHECK(plain.use_stale.empty());
  CHECK(plain.lock_timeout == Duration{5'000});
  CHECK(plain.lock_max_waiters == 10'000);
  CHECK(plain.background_update_timeout == Duration{30'000});
}

TEST_CASE("config cache rule: a cache rule's TTLs may be zero, and its zone is found by name") {
  auto config = load_ok(R"(caches:
  a: {path: var/cache/a}
  b: {path: /var/cache/b, memory: 0}
  c: {path: ../c/, memory: 32KiB}
  d: {path: d, memory: 1MiB, memory_entry_max: 1MiB}
upstreams: {app: {instances: ["127.0.0.1:1"]}}
routes:
  - {prefix: /a/, upstream: app, cache: {zone: a, ttl: 0s, valid: {200: 0}}}
  - {prefix: /d/, upstream: app, cache: d}
)");
  const auto& routes = config->routes;
  CHECK(routes[0].cache->zone_index == 0);
  CHECK(routes[0].cache->ttl == Duration{0});
  CHECK(routes[0].cache->valid == std::vector<std::pair<int, Duration>>{{200, Duration{0}}});
  CHECK(routes[1].cache->zone_index == 3);
}

TEST_CASE("config cache rule: a route's cache rule: each mistake at the node at fault") {
  check_errors(kRuleErrors);
}

TEST_CASE("config cache rule: TTLs per status (valid): each mistake at the node at fault") {
  check_errors(kValidErrors);
}

TEST_CASE("config cache rule: key, bypass and use_stale lists: each mistake at the node at fault") {
  check_errors(kNameListErrors);
}
