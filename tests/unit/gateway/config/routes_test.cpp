// Tests for what a route matches and does (gateway/config/routes.cpp): a
// prefix or a path pattern, hosts, strip_prefix, its name, the upstream it
// proxies to. Its cache rule is tested in cache_rule_test.cpp, pages and
// aggregates in pages_test.cpp and aggregates_test.cpp.
#include "gateway/config.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "config_check.hpp"

using namespace gateway;
using namespace gateway::config::testing;

namespace {

constexpr ErrorCase kRouteErrors[] = {
    {"an empty route list", R"(routes: []
)", 1, 9, "routes: must list at least one route"},

    {"unknown key in a route", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    strip: true
)", 5, 5, "unknown key \"strip\" in routes[0]"},

    {"a route without an upstream, page, aggregate or redirect", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - {prefix: /, upstream: app}
  - prefix: /v2/
    name: v2
)", 4, 5, "routes[1]: missing required key \"upstream\", \"page\", \"aggregate\" or \"redirect\""},

    {"a host list with a map in it", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    host: [a.example, {b: c}]
    upstream: app
)", 4, 23, "routes[0].host[1]: expected a string, got a map"},
};

constexpr ErrorCase kMatchErrors[] = {
    {"a route with neither prefix nor path", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - upstream: app
)", 3, 5, "missing required key \"prefix\" or \"path\""},

    {"a route with both prefix and path", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /a/
    path: /a/{id}
    upstream: app
)", 4, 5, "give prefix or path, not both"},

    {"strip_prefix on a path route", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /a/{id}
    strip_prefix: true
    upstream: app
)", 4, 5, "strip_prefix needs a prefix route"},

    {"a prefix not starting with a slash", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: api/, upstream: app}]
)", 2, 19, "must start with '/'"},

    {"a path pattern with a parameter inside a segment", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /channels/id-{id}
    upstream: app
)", 3, 11, "must be a whole segment"},

    {"a path pattern repeating a parameter", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /a/{id}/b/{id}
    upstream: app
)", 3, 11, "duplicate parameter \"id\""},

    {"a path pattern with a bad parameter name", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /a/{1st}
    upstream: app
)", 3, 11, "invalid parameter name \"1st\""},
};

constexpr const char* kUpstreams = R"(upstreams:
  channels: {instances: ["127.0.0.1:9001"]}
  chat: {instances: ["127.0.0.1:9002"]}
)";

}  // namespace

TEST_CASE("config routes: a prefix route: hosts without case, strip_prefix, the prefix as name") {
  auto config = load_ok(std::string(kUpstreams) + R"(routes:
  - prefix: /api/channels/
    upstream: channels
    strip_prefix: true
    host: [Example.COM, www.example.com]
)");
  REQUIRE(config->routes.size() == 1);
  const auto& api = config->routes[0];
  CHECK(api.prefix == "/api/channels/");
  CHECK(api.path.empty());
  CHECK(api.strip_prefix);
  CHECK(api.hosts == std::vector<std::string>{"example.com", "www.example.com"});
  CHECK(api.upstream == "channels");
  CHECK(api.upstream_index == 0);
  CHECK(api.name == "/api/channels/");  // defaults to the prefix
  CHECK(api.line == 5);
  CHECK(api.kind == RouteConfig::Kind::proxy);
  CHECK_FALSE(api.cache.has_value());
}

TEST_CASE("config routes: a path route with its own name, for any host") {
  auto config = load_ok(std::string(kUpstreams) + R"(routes:
  - prefix: /
    host: example.com
    upstream: channels
  - path: /api/chat/{id}/messages/{page}
    upstream: chat
    name: chat-messages
)");
  REQUIRE(config->routes.size() == 2);
  // One host alone is a list of one.
  CHECK(config->routes[0].hosts == std::vector<std::string>{"example.com"});
  CHECK(config->routes[0].upstream_index == 0);

  const auto& messages = config->routes[1];
  CHECK(messages.path == "/api/chat/{id}/messages/{page}");
  CHECK(messages.prefix.empty());
  CHECK_FALSE(messages.strip_prefix);
  CHECK(messages.hosts.empty());
  CHECK(messages.upstream_index == 1);
  CHECK(messages.name == "chat-messages");
  CHECK(messages.line == 8);
}

TEST_CASE("config routes: the same prefix on another host is another route") {
  auto config = load_ok(std::string(kUpstreams) + R"(routes:
  - {prefix: /x, upstream: channels, strip_prefix: false}
  - {prefix: /x, host: other.example, upstream: channels}
)");
  CHECK(config->routes.size() == 2);
  CHECK_FALSE(config->routes[0].strip_prefix);
}

TEST_CASE("config routes: a route: each mistake at the node at fault") {
  check_errors(kRouteErrors);
}

TEST_CASE("config routes: what a route matches: each mistake at the node at fault") {
  check_errors(kMatchErrors);
}
