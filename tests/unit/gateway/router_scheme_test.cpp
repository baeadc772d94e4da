// Tests for gateway/router's schemes: routes for one scheme (`scheme: http`
// or `https`) before routes for any, like nginx's server block per
// listener; the gateway's own requests (no scheme) see only routes for any.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "gateway/router.hpp"

using gateway::Config;
using gateway::RouteConfig;
using gateway::Router;

namespace {

RouteConfig route(std::string prefix, RouteConfig::Scheme scheme, std::vector<std::string> hosts = {}) {
  RouteConfig r;
  r.prefix = std::move(prefix);
  r.scheme = scheme;
  r.hosts = std::move(hosts);
  r.name = r.prefix;
  return r;
}

int route_of(const Router& router, std::string_view host, std::string_view target, bool tls) {
  gateway::http::Request req;
  req.target = target;
  req.tls = tls;
  if (!host.empty()) req.headers.add("Host", host);
  Router::Match m;
  if (!router.match(req, m)) return -1;
  return static_cast<int>(m.index);
}

}  // namespace

TEST_SUITE("router") {
  TEST_CASE("scheme: a plain-only catch-all takes every plain request, TLS requests go to the others") {
    using S = RouteConfig::Scheme;
    Config c;
    c.routes = {route("/", S::any), route("/api/", S::any, {"api.example"}), route("/", S::http),
                route("/.well-known/acme-challenge/", S::http), route("/admin/", S::https)};
    Router router(c);
    CHECK(route_of(router, "example.com", "/page", false) == 2);
    CHECK(route_of(router, "api.example", "/api/x", false) == 2);  // the plain listener's routes first
    CHECK(route_of(router, "example.com", "/.well-known/acme-challenge/t", false) == 3);
    CHECK(route_of(router, "example.com", "/page", true) == 0);
    CHECK(route_of(router, "api.example", "/api/x", true) == 1);
    CHECK(route_of(router, "example.com", "/admin/users", true) == 4);
    CHECK(route_of(router, "example.com", "/admin/users", false) == 2);

    // The gateway's own requests (fragments, purges): routes for any scheme.
    Router::Match m;
    REQUIRE(router.match("example.com", "/admin/users", m));
    CHECK(m.index == 0);
  }

  TEST_CASE("scheme: without routes for a scheme, matching is as before") {
    using S = RouteConfig::Scheme;
    Config c;
    c.routes = {route("/", S::any), route("/api/", S::any)};
    Router router(c);
    CHECK(route_of(router, "x", "/api/1", false) == 1);
    CHECK(route_of(router, "x", "/api/1", true) == 1);
    CHECK(route_of(router, "x", "/", true) == 0);
  }
}
