// Tests for a route's `strip_request_headers` (gateway/config/routes.cpp):
// the request fields never forwarded upstream. The defaults
// (kStrippedRequestHeaders: X-Original-URL, X-Rewrite-URL, Forwarded) hold
// on every proxy route; a name or a list adds to them; the map form
// `{defaults: false, headers: [...]}` replaces them. Issue 10 item 5.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "config_check.hpp"
#include "gateway/config.hpp"

using namespace gateway;
using namespace gateway::config::testing;

namespace {

using Names = std::vector<std::string>;

const Names kDefaults = {"X-Original-URL", "X-Rewrite-URL", "Forwarded"};

Names with_defaults(const Names& more) {
  Names out = kDefaults;
  out.insert(out.end(), more.begin(), more.end());
  return out;
}

// The stripped names of a route whose options are `options` ("" for none).
Names stripped(const std::string& options) {
  auto config = load_ok("upstreams: {app: {instances: [\"127.0.0.1:9001\"]}}\nroutes:\n  - prefix: /\n"
                        "    upstream: app\n" +
                        options);
  REQUIRE(config->routes.size() == 1);
  return config->routes[0].strip_request_headers;
}

constexpr ErrorCase kStripErrors[] = {
    {"an empty list, which would strip only the defaults", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    strip_request_headers: []
)", 5, 28, "an empty list adds nothing to the fields stripped by default; write {defaults: false} to strip none"},

    {"a name that is not a token", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    strip_request_headers: [X-Debug, "X Debug"]
)", 5, 38, "invalid header name \"X Debug\""},

    {"a name listed twice, whatever its case", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    strip_request_headers:
      - X-Debug
      - x-debug
)", 7, 9, "duplicate header \"x-debug\" (first at line 6)"},

    {"Host, which every upstream request needs", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    strip_request_headers: [X-Debug, host]
)", 5, 38, "\"host\" cannot be stripped: the gateway needs it to forward requests"},

    {"a framing field", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    strip_request_headers: {defaults: false, headers: Content-Length}
)", 5, 55, "\"Content-Length\" cannot be stripped"},

    {"a map in the list", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    strip_request_headers: [{X-Debug: true}]
)", 5, 29, "routes[0].strip_request_headers[0]: expected a string, got a map"},

    {"defaults not a boolean", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    strip_request_headers: {defaults: no}
)", 5, 39, "expected true or false, got \"no\""},

    {"an unknown key in the map form", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    strip_request_headers: {default: false}
)", 5, 29, "unknown key \"default\" in routes[0].strip_request_headers"},

    {"an empty headers list in the map form", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    strip_request_headers: {defaults: false, headers: []}
)", 5, 55, "write {defaults: false} to strip none"},

    {"on an aggregate route", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - {prefix: /a/, upstream: app}
  - path: /s/{id}
    aggregate: {a: "/a/{id}"}
    strip_request_headers: [X-Debug]
)", 6, 5, "routes[1]: strip_request_headers needs an upstream, not an aggregate route"},
};

}  // namespace

TEST_CASE("config strip_request_headers: a proxy route strips X-Original-URL, X-Rewrite-URL and Forwarded by default") {
  CHECK(stripped("") == kDefaults);
  CHECK(RouteConfig{}.strip_request_headers == kDefaults);
}

TEST_CASE("config strip_request_headers: a name or a list adds to the defaults") {
  CHECK(stripped("    strip_request_headers: X-Debug\n") == with_defaults({"X-Debug"}));
  CHECK(stripped("    strip_request_headers: [X-Debug, X-Forwarded-For]\n") ==
        with_defaults({"X-Debug", "X-Forwarded-For"}));
  // A default named again is there once.
  CHECK(stripped("    strip_request_headers: [x-original-url, X-Debug]\n") == with_defaults({"X-Debug"}));
  CHECK(stripped("    strip_request_headers: {headers: [X-Debug]}\n") == with_defaults({"X-Debug"}));
  CHECK(stripped("    strip_request_headers: {defaults: true, headers: X-Debug}\n") == with_defaults({"X-Debug"}));
}

TEST_CASE("config strip_request_headers: defaults: false strips only the names listed, or none") {
  CHECK(stripped("    strip_request_headers: {defaults: false}\n").empty());
  CHECK(stripped("    strip_request_headers: {defaults: false, headers: [X-Rewrite-URL, X-Debug]}\n") ==
        Names{"X-Rewrite-URL", "X-Debug"});
}

TEST_CASE("config strip_request_headers: each mistake at the node at fault") {
  check_errors(kStripErrors);
}
