// Tests for gateway/router: host-specific before generic routes, path
// patterns before prefixes, the longest prefix among prefixes; path
// parameters and their expansion.
#include "gateway/router.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using gateway::Config;
using gateway::PathParams;
using gateway::RouteConfig;
using gateway::Router;
using gateway::expand_params;

namespace {

RouteConfig prefix(std::string p, std::vector<std::string> hosts = {}) {
  RouteConfig r;
  r.prefix = std::move(p);
  r.hosts = std::move(hosts);
  r.name = r.prefix;
  return r;
}

RouteConfig pattern(std::string p, std::vector<std::string> hosts = {}) {
  RouteConfig r;
  r.path = std::move(p);
  r.hosts = std::move(hosts);
  r.name = r.path;
  return r;
}

Config config_of(std::vector<RouteConfig> routes) {
  Config c;
  c.routes = std::move(routes);
  return c;
}

// Index of the matching route, -1 if none.
int route_of(const Router& router, std::string_view host, std::string_view path) {
  Router::Match m;
  if (!router.match(host, path, m)) return -1;
  return static_cast<int>(m.index);
}

std::string params_of(const Router& router, std::string_view host, std::string_view path) {
  Router::Match m;
  if (!router.match(host, path, m)) return "no match";
  std::string s;
  for (const auto& [name, value] : m.params) s.append(name).append("=").append(value).append(";");
  return s;
}

}  // namespace

TEST_SUITE("router") {
  TEST_CASE("the longest matching prefix wins, whatever the order of the routes") {
    Config c = config_of({prefix("/api/v1/"), prefix("/"), prefix("/api/")});
    Router r(c);
    CHECK(route_of(r, "h", "/api/v1/users") == 0);
    CHECK(route_of(r, "h", "/api/v1/") == 0);
    CHECK(route_of(r, "h", "/api/v2/users") == 2);
    CHECK(route_of(r, "h", "/api/") == 2);
    CHECK(route_of(r, "h", "/api") == 1);  // shorter than "/api/"
    CHECK(route_of(r, "h", "/") == 1);
    CHECK(route_of(r, "h", "/other") == 1);
  }

  TEST_CASE("a match points at the route's config entry") {
    Config c = config_of({prefix("/a/"), prefix("/b/")});
    Router r(c);
    Router::Match m;
    REQUIRE(r.match("h", "/b/x", m));
    CHECK(m.index == 1u);
    CHECK(m.route == &c.routes[1]);
    CHECK(m.params.empty());
  }

  TEST_CASE("a path pattern matches one segment per parameter, and only whole paths") {
    Config c = config_of({pattern("/channels/{id}")});
    Router r(c);
    CHECK(params_of(r, "h", "/channels/42") == "id=42;");
    CHECK(params_of(r, "h", "/channels/some-name_1.x") == "id=some-name_1.x;");
    CHECK(route_of(r, "h", "/channels/42/x") == -1);
    CHECK(route_of(r, "h", "/channels/42/") == -1);
    CHECK(route_of(r, "h", "/channels/") == -1);
    CHECK(route_of(r, "h", "/channels") == -1);
    CHECK(route_of(r, "h", "/channels//") == -1);
    CHECK(route_of(r, "h", "/channel/42") == -1);
    CHECK(route_of(r, "h", "/Channels/42") == -1);
    CHECK(route_of(r, "h", "channels/42") == -1);
    CHECK(route_of(r, "h", "") == -1);
  }

  TEST_CASE("a pattern with several parameters binds each of them") {
    Config c = config_of({pattern("/users/{uid}/posts/{pid}")});
    Router r(c);
    CHECK(params_of(r, "h", "/users/7/posts/abc") == "uid=7;pid=abc;");
    CHECK(route_of(r, "h", "/users/7/comments/abc") == -1);
    CHECK(route_of(r, "h", "/users/7/posts") == -1);
    CHECK(route_of(r, "h", "/users//posts/abc") == -1);
  }

  TEST_CASE("parameters are views into the path that was matched") {
    Config c = config_of({pattern("/c/{id}")});
    Router r(c);
    std::string path = "/c/99";
    Router::Match m;
    REQUIRE(r.match("h", path, m));
    REQUIRE(m.params.size() == 1u);
    CHECK(m.params[0].second.data() == path.data() + 3);
  }

  TEST_CASE("a matching pattern beats a matching prefix, even a longer one") {
    Config c = config_of({prefix("/channels/4"), pattern("/channels/{id}"), prefix("/")});
    Router r(c);
    CHECK(route_of(r, "h", "/channels/42") == 1);
    CHECK(route_of(r, "h", "/channels/42/x") == 0);  // the pattern does not match: prefixes decide
    CHECK(route_of(r, "h", "/channels/7/x") == 2);
  }

  TEST_CASE("a prefix match after a pattern match leaves no stale parameters") {
    Config c = config_of({prefix("/channels/"), pattern("/channels/{id}")});
    Router r(c);
    Router::Match m;
    REQUIRE(r.match("h", "/channels/42", m));
    CHECK(m.params.size() == 1u);
    REQUIRE(r.match("h", "/channels/42/x", m));
    CHECK(m.index == 0u);
    CHECK(m.params.empty());
  }

  TEST_CASE("routes for the request's host beat generic ones, even with a shorter prefix") {
    Config c = config_of({prefix("/api/long/"), prefix("/", {"api.example.com"}), prefix("/")});
    Router r(c);
    CHECK(route_of(r, "api.example.com", "/api/long/x") == 1);
    CHECK(route_of(r, "other.example", "/api/long/x") == 0);
    CHECK(route_of(r, "other.example", "/x") == 2);
    CHECK(route_of(r, "", "/x") == 2);
  }

  TEST_CASE("a host's routes that do not match the path fall back to the generic ones") {
    Config c = config_of({prefix("/admin/", {"api.example.com"}), prefix("/")});
    Router r(c);
    CHECK(route_of(r, "api.example.com", "/admin/users") == 0);
    CHECK(route_of(r, "api.example.com", "/public") == 1);
  }

  TEST_CASE("host-specific patterns and prefixes follow the same order as generic ones") {
    Config c = config_of({prefix("/", {"a.example"}), pattern("/c/{id}", {"a.example"}), prefix("/c/", {"a.example"})});
    Router r(c);
    CHECK(route_of(r, "a.example", "/c/1") == 1);
    CHECK(route_of(r, "a.example", "/c/1/2") == 2);
    CHECK(route_of(r, "a.example", "/x") == 0);
  }

  TEST_CASE("the Host header matches whatever its port and case") {
    Config c = config_of({prefix("/", {"Api.Example.com", "www.example.com"}), prefix("/")});
    Router r(c);
    CHECK(route_of(r, "api.example.com", "/") == 0);
    CHECK(route_of(r, "API.EXAMPLE.COM", "/") == 0);
    CHECK(route_of(r, "api.example.com:8080", "/") == 0);
    CHECK(route_of(r, "Api.Example.Com:443", "/") == 0);
    CHECK(route_of(r, "www.example.com", "/") == 0);
    CHECK(route_of(r, "api.example.com.evil", "/") == 1);
    CHECK(route_of(r, "example.com", "/") == 1);
    CHECK(route_of(r, "xapi.example.com", "/") == 1);
  }

  TEST_CASE("an IPv6 literal Host matches with and without its port") {
    Config c = config_of({prefix("/", {"[::1]"}), prefix("/")});
    Router r(c);
    CHECK(route_of(r, "[::1]:8080", "/") == 0);
    CHECK(route_of(r, "[::1]", "/") == 0);
    CHECK(route_of(r, "[::2]:8080", "/") == 1);
  }

  TEST_CASE("a request no route takes gets no match") {
    Config c = config_of({prefix("/api/"), pattern("/c/{id}"), prefix("/", {"only.example"})});
    Router r(c);
    CHECK(route_of(r, "h", "/web") == -1);
    CHECK(route_of(r, "h", "/ap") == -1);
    CHECK(route_of(r, "h", "/c/1/2") == -1);
    CHECK(route_of(r, "only.example", "/web") == 2);

    Config empty;
    Router none(empty);
    CHECK(route_of(none, "h", "/") == -1);
  }

  TEST_CASE("routes loaded from YAML match as configured") {
    auto loaded = gateway::load_config_from_string(R"(listen: ["127.0.0.1:0"]
upstreams:
  svc:
    instances: ["127.0.0.1:9001"]
routes:
  - prefix: /api/
    upstream: svc
  - path: /channels/{id}/chat
    upstream: svc
  - prefix: /
    host: [Admin.Example.COM]
    upstream: svc
)");
    REQUIRE(loaded.errors.empty());
    REQUIRE(loaded.config);
    Router r(*loaded.config);
    CHECK(route_of(r, "h", "/api/x") == 0);
    CHECK(params_of(r, "h", "/channels/9/chat") == "id=9;");
    CHECK(route_of(r, "admin.example.com:8080", "/api/x") == 2);
    CHECK(route_of(r, "h", "/") == -1);
  }
}

TEST_SUITE("router: expand_params") {
  TEST_CASE("placeholders are replaced by the parameters of the same name") {
    PathParams p{{"id", "42"}, {"page", "3"}};
    CHECK(expand_params("/v1/channels/{id}/items", p) == "/v1/channels/42/items");
    CHECK(expand_params("{id}-{page}-{id}", p) == "42-3-42");
    CHECK(expand_params("/p/{page}", p) == "/p/3");
  }

  TEST_CASE("unknown names, unclosed braces and plain text stay as they are") {
    PathParams p{{"id", "42"}};
    CHECK(expand_params("/x/{other}/{id}", p) == "/x/{other}/42");
    CHECK(expand_params("/x/{id", p) == "/x/{id");
    CHECK(expand_params("/x/id}", p) == "/x/id}");
    CHECK(expand_params("no placeholders", p) == "no placeholders");
    CHECK(expand_params("", p) == "");
    CHECK(expand_params("{}", p) == "{}");
    CHECK(expand_params("/{id}", {}) == "/{id}");
  }

  TEST_CASE("parameters from a match expand a template") {
    Config c = config_of({pattern("/channels/{id}/messages/{page}")});
    Router r(c);
    Router::Match m;
    REQUIRE(r.match("h", "/channels/abc/messages/2", m));
    CHECK(expand_params("/api/chat/{id}?page={page}", m.params) == "/api/chat/abc?page=2");
  }
}
