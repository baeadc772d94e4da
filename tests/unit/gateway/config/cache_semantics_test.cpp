// Tests for the cache options of issue 10's HTTP semantics: a zone's
// `heuristic:` (caches.cpp, heuristic freshness, RFC 9111 4.2.2) and a
// route cache rule's `targeted_fields:` (RFC 9213) and `range_fill_max:`
// (routes.cpp): defaults, every spelling, and each mistake at its node.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "config_check.hpp"
#include "gateway/config.hpp"

using namespace gateway;
using namespace gateway::config::testing;

namespace {

constexpr ErrorCase kSemanticsErrors[] = {
    {"a heuristic that is neither a boolean nor a map", R"(caches:
  main: {path: var/cache, heuristic: yes}
upstreams: {app: {instances: ["127.0.0.1:1"]}}
routes: [{prefix: /, upstream: app}]
)", 2, 38, "caches.main.heuristic: expected true or false, got \"yes\""},

    {"an unknown key in heuristic", R"(caches:
  main: {path: var/cache, heuristic: {fraction: 10%, min: 1s}}
upstreams: {app: {instances: ["127.0.0.1:1"]}}
routes: [{prefix: /, upstream: app}]
)", 2, 54, "unknown key \"min\" in caches.main.heuristic"},

    {"a heuristic fraction without %", R"(caches:
  main: {path: var/cache, heuristic: {fraction: 0.1}}
upstreams: {app: {instances: ["127.0.0.1:1"]}}
routes: [{prefix: /, upstream: app}]
)", 2, 49, "caches.main.heuristic.fraction: invalid percentage \"0.1\""},

    {"a heuristic fraction of 0%", R"(caches:
  main: {path: var/cache, heuristic: {fraction: 0%}}
upstreams: {app: {instances: ["127.0.0.1:1"]}}
routes: [{prefix: /, upstream: app}]
)", 2, 49, "invalid percentage \"0%\" (above 0% and at most 100%"},

    {"a heuristic fraction over 100%", R"(caches:
  main: {path: var/cache, heuristic: {fraction: 150%}}
upstreams: {app: {instances: ["127.0.0.1:1"]}}
routes: [{prefix: /, upstream: app}]
)", 2, 49, "invalid percentage \"150%\""},

    {"a heuristic max under a second", R"(caches:
  main: {path: var/cache, heuristic: {max: 500ms}}
upstreams: {app: {instances: ["127.0.0.1:1"]}}
routes: [{prefix: /, upstream: app}]
)", 2, 44, "caches.main.heuristic.max: duration \"500ms\" must be at least 1000ms"},

    {"a targeted field that is not a header name", R"(caches: {main: {path: var/cache}}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    cache: {zone: main, targeted_fields: ["CDN Cache-Control"]}
)", 6, 43, "routes[0].cache.targeted_fields[0]: invalid header name \"CDN Cache-Control\""},

    {"a targeted field listed twice", R"(caches: {main: {path: var/cache}}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    cache: {zone: main, targeted_fields: [CDN-Cache-Control, cdn-cache-control]}
)", 6, 62, "duplicate header \"cdn-cache-control\" (first at line 6)"},

    {"a bad range_fill_max", R"(caches: {main: {path: var/cache}}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    cache: {zone: main, range_fill_max: lots}
)", 6, 41, "routes[0].cache.range_fill_max"},
};

constexpr const char* kUpstream = R"(upstreams: {app: {instances: ["127.0.0.1:1"]}}
)";

}  // namespace

TEST_CASE("config cache semantics: heuristic is off by default, on with defaults, or with a fraction and a cap") {
  auto config = load_ok(std::string(R"(caches:
  plain: {path: var/plain}
  on: {path: var/on, heuristic: true}
  off: {path: var/off, heuristic: false}
  empty: {path: var/empty, heuristic: {}}
  tuned: {path: var/tuned, heuristic: {fraction: 2.5%, max: 6h}}
)") + kUpstream + R"(routes:
  - {prefix: /p/, upstream: app, cache: plain}
  - {prefix: /t/, upstream: app, cache: {zone: tuned, ttl: 5s}}
)");
  const auto& zones = config->caches;
  REQUIRE(zones.size() == 5);
  CHECK_FALSE(zones[0].heuristic.enabled);
  CHECK(zones[1].heuristic.enabled);
  CHECK(zones[1].heuristic.fraction == doctest::Approx(0.1));
  CHECK(zones[1].heuristic.max == Duration{86'400'000});
  CHECK_FALSE(zones[2].heuristic.enabled);
  CHECK(zones[3].heuristic.enabled);
  CHECK(zones[3].heuristic.fraction == doctest::Approx(0.1));
  CHECK(zones[4].heuristic.enabled);
  CHECK(zones[4].heuristic.fraction == doctest::Approx(0.025));
  CHECK(zones[4].heuristic.max == Duration{6 * 3'600'000});
  // A rule gets its zone's heuristic, which its freshness reads.
  CHECK_FALSE(config->routes[0].cache->heuristic.enabled);
  CHECK(config->routes[1].cache->heuristic.enabled);
  CHECK(config->routes[1].cache->heuristic.max == Duration{6 * 3'600'000});
}

TEST_CASE("config cache semantics: targeted_fields defaults to CDN-Cache-Control, in the order given, [] for none") {
  auto config = load_ok(std::string("caches: {main: {path: var/cache}}\n") + kUpstream + R"(routes:
  - {prefix: /a/, upstream: app, cache: main}
  - {prefix: /b/, upstream: app, cache: {zone: main, targeted_fields: [Gateway-Cache-Control, CDN-Cache-Control]}}
  - {prefix: /c/, upstream: app, cache: {zone: main, targeted_fields: Surrogate-Control}}
  - {prefix: /d/, upstream: app, cache: {zone: main, targeted_fields: []}}
)");
  const auto& routes = config->routes;
  CHECK(routes[0].cache->targeted_fields == std::vector<std::string>{"CDN-Cache-Control"});
  CHECK(routes[1].cache->targeted_fields == std::vector<std::string>{"Gateway-Cache-Control", "CDN-Cache-Control"});
  CHECK(routes[2].cache->targeted_fields == std::vector<std::string>{"Surrogate-Control"});
  CHECK(routes[3].cache->targeted_fields.empty());
}

TEST_CASE("config cache semantics: range_fill_max defaults to 64 MiB, 0 passes every Range miss upstream") {
  auto config = load_ok(std::string("caches: {main: {path: var/cache}}\n") + kUpstream + R"(routes:
  - {prefix: /a/, upstream: app, cache: main}
  - {prefix: /b/, upstream: app, cache: {zone: main, range_fill_max: 1MiB}}
  - {prefix: /c/, upstream: app, cache: {zone: main, range_fill_max: 0}}
)");
  const auto& routes = config->routes;
  CHECK(routes[0].cache->range_fill_max == 64ull << 20);
  CHECK(routes[1].cache->range_fill_max == 1ull << 20);
  CHECK(routes[2].cache->range_fill_max == 0);
}

TEST_CASE("config cache semantics: heuristic, targeted_fields and range_fill_max: each mistake at the node at fault") {
  check_errors(kSemanticsErrors);
}
