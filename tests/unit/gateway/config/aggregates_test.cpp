// Tests for aggregate routes (gateway/config/pages.cpp): parts alone, or
// parts with options of the whole aggregate; each part's path may use only
// the parameters of the route's path.
#include "gateway/config.hpp"

#include <doctest/doctest.h>

#include "config_check.hpp"

using namespace gateway;
using namespace gateway::config::testing;

namespace {

// An aggregate instead of an upstream: what only a proxy route takes.
constexpr FileErrorCase kAggregateRouteErrors[] = {
    {"page and aggregate", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /channels/{id}
    page: ok.html
    aggregate: {a: /a}
)", "gw.yaml", 3, 5, "routes[0]: give one of upstream, page, aggregate or redirect, not page and aggregate"},

    {"cache on an aggregate route", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /channels/{id}
    aggregate: {a: "/a/{id}"}
    cache: main
)", "gw.yaml", 5, 5, "routes[0]: cache needs an upstream, not an aggregate route"},
};

constexpr FileErrorCase kAggregateErrors[] = {
    {"an aggregate without parts", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /summary/{id}
    aggregate: {}
)", "gw.yaml", 4, 16, "routes[0].aggregate: must list at least one part"},

    {"empty parts", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /summary/{id}
    aggregate:
      parts: {}
      timeout: 1s
)", "gw.yaml", 5, 14, "routes[0].aggregate.parts: must list at least one part"},

    {"a duplicate part", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /summary/{id}
    aggregate:
      chat: /api/chat/{id}
      chat: /api/chat2/{id}
)", "gw.yaml", 6, 7, "duplicate part \"chat\" in routes[0].aggregate (first at line 5)"},

    {"a duplicate part in the long form", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /summary/{id}
    aggregate:
      parts: {a: /a, b: /b, a: /c}
)", "gw.yaml", 5, 29, "duplicate part \"a\" in routes[0].aggregate.parts (first at line 5)"},

    {"an empty part key", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /summary/{id}
    aggregate:
      "": /api/x
)", "gw.yaml", 5, 7, "a part's key must not be empty in routes[0].aggregate"},

    {"an option among the parts of the short form", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /summary/{id}
    aggregate:
      chat: /api/chat/{id}
      timeout: 1s
)", "gw.yaml", 6, 16,
     "routes[0].aggregate.timeout: path \"1s\" must start with '/' (options of the whole "
     "aggregate go beside its parts: {parts: {...}, timeout: ...})"},

    {"an unknown key in the long form", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /summary/{id}
    aggregate:
      parts: {chat: "/api/chat/{id}"}
      retries: 1
)", "gw.yaml", 6, 7, "unknown key \"retries\" in routes[0].aggregate"},

    {"no part bytes", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /summary/{id}
    aggregate:
      parts: {chat: "/api/chat/{id}"}
      max_part_bytes: 0
)", "gw.yaml", 6, 23, "routes[0].aggregate.max_part_bytes: size \"0\" is out of range (1.."},

    {"a zero aggregate timeout", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /summary/{id}
    aggregate: {parts: {chat: "/api/chat/{id}"}, timeout: 0ms}
)", "gw.yaml", 4, 59, "routes[0].aggregate.timeout: duration \"0ms\" must be at least 1ms"},

    {"an aggregate as a string", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /summary/{id}
    aggregate: /api/summary
)", "gw.yaml", 4, 16, "routes[0].aggregate: expected a map, got \"/api/summary\""},
};

constexpr FileErrorCase kPartErrors[] = {
    {"a part path without a slash", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /summary/{id}
    aggregate:
      chat: api/chat/{id}
)", "gw.yaml", 5, 13, "routes[0].aggregate.chat: path \"api/chat/{id}\" must start with '/'"},

    {"a part without a path", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /summary/{id}
    aggregate:
      chat: {required: true}
)", "gw.yaml", 5, 13, "routes[0].aggregate.chat: missing required key \"path\""},

    {"a part's required not a boolean", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /summary/{id}
    aggregate:
      chat: {path: /api/chat, required: yes}
)", "gw.yaml", 5, 41, "routes[0].aggregate.chat.required: expected true or false, got \"yes\""},

    {"a part's bad timeout", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /summary/{id}
    aggregate:
      chat:
        path: /api/chat/{id}
        timeout: soon
)", "gw.yaml", 7, 18, "routes[0].aggregate.chat.timeout: invalid duration \"soon\""},

    {"an unknown key in a part", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /summary/{id}
    aggregate:
      chat: {path: /api/chat, optional: true}
)", "gw.yaml", 5, 31, "unknown key \"optional\" in routes[0].aggregate.chat"},

    {"a part as a list", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /summary/{id}
    aggregate:
      chat: [/api/chat]
)", "gw.yaml", 5, 13, "routes[0].aggregate.chat: expected a string, got a list"},
};

// Parts whose paths use parameters the route's path lacks.
constexpr FileErrorCase kPartParamErrors[] = {
    {"a part using a parameter the path lacks", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /api/summary/{id}
    aggregate:
      chat: /api/chat/{channel}
)", "gw.yaml", 5, 13,
     "routes[0].aggregate.chat: unknown parameter \"{channel}\" in \"/api/chat/{channel}\" (the "
     "route's path \"/api/summary/{id}\" has: {id})"},

    {"a part using a parameter on a prefix route", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /summary/
    aggregate: {chat: "/api/chat/{id}"}
)", "gw.yaml", 4, 23, "(a prefix route has no parameters)"},

    {"a part's path in the long form using an unknown parameter", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /summary/{id}/{lang}
    aggregate:
      parts:
        chat: {path: "/api/chat/{id}?lang={language}", required: true}
)", "gw.yaml", 6, 22, "unknown parameter \"{language}\" in \"/api/chat/{id}?lang={language}\" "
                   "(the route's path \"/summary/{id}/{lang}\" has: {id}, {lang})"},
};

constexpr const char* kApi = R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - {prefix: /api/, upstream: app}
)";

}  // namespace

TEST_CASE("config aggregates: an aggregate's parts alone, in file order, with the defaults") {
  auto config = load_ok(std::string(kApi) + R"(  - path: /api/summary/{id}
    aggregate:
      channel: "/api/channels/{id}"
      chat: {path: "/api/chat/{id}?limit=10", required: true, timeout: 500ms}
)");
  const auto& routes = config->routes;
  REQUIRE(routes.size() == 2);
  const auto& summary = routes[1];
  CHECK(summary.kind == RouteConfig::Kind::aggregate);
  CHECK(summary.upstream.empty());
  CHECK_FALSE(summary.page.has_value());
  REQUIRE(summary.aggregate.has_value());
  CHECK(summary.aggregate->timeout == Duration{2'000});  // defaults
  CHECK(summary.aggregate->max_part_bytes == 1 << 20);
  const auto& parts = summary.aggregate->parts;
  REQUIRE(parts.size() == 2);  // in file order
  CHECK(parts[0].key == "channel");
  CHECK(parts[0].path == "/api/channels/{id}");
  CHECK_FALSE(parts[0].required);
  CHECK_FALSE(parts[0].timeout.has_value());
  CHECK(parts[1].key == "chat");
  CHECK(parts[1].path == "/api/chat/{id}?limit=10");
  CHECK(parts[1].required);
  CHECK(parts[1].timeout == Duration{500});
}

TEST_CASE("config aggregates: an aggregate's parts beside options of the whole aggregate") {
  auto config = load_ok(std::string(kApi) + R"(  - path: /api/summary2/{id}/{lang}
    aggregate:
      parts:
        channel: "/api/channels/{id}"
        chat: {path: "/api/chat/{id}/{lang}", required: false}
      timeout: 1s
      max_part_bytes: 256KiB
)");
  const auto& summary2 = config->routes[1];
  CHECK(summary2.kind == RouteConfig::Kind::aggregate);
  REQUIRE(summary2.aggregate.has_value());
  CHECK(summary2.aggregate->timeout == Duration{1'000});
  CHECK(summary2.aggregate->max_part_bytes == 256 * 1024);
  const auto& parts2 = summary2.aggregate->parts;
  REQUIRE(parts2.size() == 2);
  CHECK(parts2[0].key == "channel");
  CHECK(parts2[1].key == "chat");
  CHECK(parts2[1].path == "/api/chat/{id}/{lang}");
  CHECK_FALSE(parts2[1].required);
}

TEST_CASE("config aggregates: without parts, every key is a part, even one named like an option") {
  auto config = load_ok(std::string(kApi) + R"(  - prefix: /front/
    aggregate: {trending: /api/trending, timeout: /api/timeouts}
)");
  const auto& front = config->routes[1];
  CHECK(front.prefix == "/front/");
  REQUIRE(front.aggregate.has_value());
  REQUIRE(front.aggregate->parts.size() == 2);
  CHECK(front.aggregate->parts[1].key == "timeout");
  CHECK(front.aggregate->parts[1].path == "/api/timeouts");
  CHECK(front.aggregate->timeout == Duration{2'000});
}

TEST_CASE("config aggregates: an aggregate route: upstream and cache are a proxy route's") {
  TempDir dir;
  check_file_errors(dir, kAggregateRouteErrors);
}

TEST_CASE("config aggregates: an aggregate: each mistake at the node at fault") {
  TempDir dir;
  check_file_errors(dir, kAggregateErrors);
}

TEST_CASE("config aggregates: an aggregate's part: each mistake at the node at fault") {
  TempDir dir;
  check_file_errors(dir, kPartErrors);
}

TEST_CASE("config aggregates: an aggregate's parts may use only the route's parameters") {
  TempDir dir;
  check_file_errors(dir, kPartParamErrors);
}
