// Tests for the edge rules in the configuration (gateway/config/edge.cpp):
// a route's `headers:` and `redirect:`, `scheme:`, a listener's
// `proxy_protocol`, and `trusted_proxies`; each mistake at the node at
// fault.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "config_check.hpp"
#include "gateway/config.hpp"

using namespace gateway;
using namespace gateway::config::testing;

namespace {

constexpr ErrorCase kHeaderErrors[] = {
    {"a field the gateway frames", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    headers: {response: {set: {Content-Length: "0"}}}
)", 5, 32, "\"Content-Length\" cannot be changed: the gateway frames every message itself"},

    {"a hop-by-hop field removed", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    headers:
      response:
        remove: [Server, Connection]
)", 7, 26, "\"Connection\" cannot be changed: it is a hop-by-hop field"},

    {"Host in a response", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    headers: {response: {add: {Host: a}}}
)", 5, 32, "\"Host\" is a request field"},

    {"X-Forwarded-For set on the request", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    headers:
      request:
        set: {X-Forwarded-For: $remote_addr}
)", 7, 15, "the gateway writes it itself"},

    {"an unknown variable", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    headers:
      request:
        set: {X-Real-IP: $remote_ip}
)", 7, 26, "unknown variable $remote_ip"},

    {"a value with a line break", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    headers: {response: {set: {X-A: "a\r\nSet-Cookie: x=1"}}}
)", 5, 37, "a value cannot hold CR, LF or NUL"},

    {"an invalid header name", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    headers: {response: {add: {"X A": b}}}
)", 5, 32, "invalid header name \"X A\" in routes[0].headers.response.add"},

    {"a name set twice in two cases", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    headers: {response: {set: {X-A: a, x-a: b}}}
)", 5, 40, "header \"x-a\" is given twice"},

    {"a name both set and removed", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    headers: {response: {set: {Server: gw}, remove: server}}
)", 5, 53, "header \"server\" is both set and removed"},

    {"add on the request side", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    headers: {request: {add: {X-A: b}}}
)", 5, 25, "unknown key \"add\" in routes[0].headers.request"},

    {"request edits on a redirect", R"(routes:
  - prefix: /
    redirect: "https://$host$request_uri"
    headers: {request: {set: {X-A: b}}}
)", 4, 15, "routes[0].headers: request edits need an upstream, not a redirect route"},

    {"an unknown direction", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    headers: {responses: {}}
)", 5, 15, "unknown key \"responses\""},
};

constexpr ErrorCase kRedirectErrors[] = {
    {"a status that is no redirect", R"(routes:
  - prefix: /
    redirect: {to: "https://example.com/", status: 200}
)", 3, 52, "status 200 is no redirect (301, 302, 303, 307 or 308)"},

    {"300 is no redirect either", R"(routes:
  - prefix: /
    redirect: {to: "https://example.com/", status: 300}
)", 3, 52, "status 300 is no redirect"},

    {"a redirect without its target", R"(routes:
  - prefix: /
    redirect: {status: 302}
)", 3, 15, "missing required key \"to\""},

    {"an unknown variable in the target", R"(routes:
  - prefix: /
    redirect: "https://$server_name$request_uri"
)", 3, 15, "unknown variable $server_name"},

    {"an empty target", R"(routes:
  - prefix: /
    redirect: ""
)", 3, 15, "routes[0].redirect: must not be empty"},

    {"a redirect and an upstream", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    redirect: /x
)", 3, 5, "give one of upstream, page, aggregate or redirect, not upstream and redirect"},

    {"cache on a redirect", R"(caches: {main: {path: /tmp/gw-edge-test, max_size: 1m}}
routes:
  - prefix: /
    redirect: /x
    cache: main
)", 5, 5, "routes[0]: cache needs an upstream, not a redirect route"},

    {"an unknown scheme", R"(routes:
  - prefix: /
    scheme: ftp
    redirect: /x
)", 3, 13, "unknown value \"ftp\" (expected one of: http, https)"},

    {"two redirects for the same scheme", R"(routes:
  - {prefix: /, scheme: http, redirect: "https://$host$request_uri"}
  - {prefix: /, scheme: http, redirect: "https://example.com/"}
)", 3, 5, "duplicate route: same host and prefix as routes[0]"},
};

constexpr ErrorCase kAddressErrors[] = {
    {"a range with host bits", R"(routes: [{prefix: /, redirect: /x}]
trusted_proxies: [10.0.0.1/8]
)", 2, 19, "trusted_proxies[0]: \"10.0.0.1/8\" has bits set after the /8 prefix"},

    {"a prefix too long", R"(routes: [{prefix: /, redirect: /x}]
trusted_proxies: [127.0.0.0/8, "::1/129"]
)", 2, 32, "invalid prefix length \"129\" (0..128)"},

    {"a host name", R"(routes: [{prefix: /, redirect: /x}]
trusted_proxies: lb.example
)", 2, 18, "invalid address \"lb.example\""},

    {"proxy_protocol not a boolean", R"(listen: [{address: "127.0.0.1:0", proxy_protocol: v2}]
routes: [{prefix: /, redirect: /x}]
)", 1, 51, "listen[0].proxy_protocol: expected true or false, got \"v2\""},
};

}  // namespace

TEST_CASE("config edge: header rules: each mistake at the node at fault") { check_errors(kHeaderErrors); }
TEST_CASE("config edge: redirect routes and schemes: each mistake at the node at fault") {
  check_errors(kRedirectErrors);
}
TEST_CASE("config edge: trusted_proxies and proxy_protocol: each mistake at the node at fault") {
  check_errors(kAddressErrors);
}

TEST_CASE("config edge: a route's header rules, in file order") {
  auto config = load_ok(R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    headers:
      request:
        set: {X-Real-IP: $remote_addr, Host: backend.internal}
        remove: Cookie
      response:
        add: {Strict-Transport-Security: "max-age=63072000; includeSubDomains"}
        set: {Access-Control-Allow-Origin: "*"}
        remove: [Server, X-Powered-By]
)");
  const auto& h = config->routes[0].headers;
  using Fields = std::vector<std::pair<std::string, std::string>>;
  CHECK(h.request.set == Fields{{"X-Real-IP", "$remote_addr"}, {"Host", "backend.internal"}});
  CHECK(h.request.remove == std::vector<std::string>{"Cookie"});
  CHECK(h.request.add.empty());
  CHECK(h.response.add == Fields{{"Strict-Transport-Security", "max-age=63072000; includeSubDomains"}});
  CHECK(h.response.set == Fields{{"Access-Control-Allow-Origin", "*"}});
  CHECK(h.response.remove == std::vector<std::string>{"Server", "X-Powered-By"});
}

TEST_CASE("config edge: redirect routes need no upstream, 301 by default, a scheme each") {
  auto config = load_ok(R"(routes:
  - {prefix: /, scheme: http, redirect: "https://$host$request_uri"}
  - {prefix: /, redirect: {to: /elsewhere, status: 308}, headers: {response: {remove: Server}}}
  - {prefix: /old/, scheme: https, redirect: {to: /new/}}
)");
  REQUIRE(config->routes.size() == 3);
  const auto& http_only = config->routes[0];
  CHECK(http_only.kind == RouteConfig::Kind::redirect);
  CHECK(http_only.scheme == RouteConfig::Scheme::http);
  CHECK(http_only.redirect->to == "https://$host$request_uri");
  CHECK(http_only.redirect->status == 301);
  CHECK(config->routes[1].scheme == RouteConfig::Scheme::any);
  CHECK(config->routes[1].redirect->status == 308);
  CHECK(config->routes[1].headers.response.remove == std::vector<std::string>{"Server"});
  CHECK(config->routes[2].scheme == RouteConfig::Scheme::https);
  CHECK(config->routes[2].redirect->status == 301);
}

TEST_CASE("config edge: trusted_proxies (one or a list, IPv4 and IPv6) and proxy_protocol, both off by default") {
  auto config = load_ok(R"(listen:
  - "127.0.0.1:8080"
  - {address: "127.0.0.1:8443", proxy_protocol: true}
routes: [{prefix: /, redirect: /x}]
trusted_proxies: [10.0.0.0/8, "2001:db8::/32", 127.0.0.1]
)");
  REQUIRE(config->listen.size() == 2);
  CHECK_FALSE(config->listen[0].proxy_protocol);
  CHECK(config->listen[1].proxy_protocol);
  REQUIRE(config->trusted_proxies.size() == 3);
  CHECK(config->trusted_proxies[0].to_string() == "10.0.0.0/8");
  CHECK(config->trusted_proxies[1].to_string() == "2001:db8::/32");
  CHECK(config->trusted_proxies[2].to_string() == "127.0.0.1/32");

  auto plain = load_ok("routes: [{prefix: /, redirect: /x}]\n");
  CHECK(plain->trusted_proxies.empty());
  CHECK_FALSE(plain->listen[0].proxy_protocol);
  auto one = load_ok("routes: [{prefix: /, redirect: /x}]\ntrusted_proxies: 192.168.0.0/16\n");
  CHECK(one->trusted_proxies.size() == 1);
}
