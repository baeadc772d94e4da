// Tests for a route's `upgrade` key (gateway/config/routes.cpp) and the
// tunnel timeouts (gateway/config/server.cpp): the protocols a client may
// switch to through a proxy route (issue 11, WebSocket).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "config_check.hpp"
#include "gateway/config.hpp"

using namespace gateway;
using namespace gateway::config::testing;

namespace {

std::vector<std::string> upgrade(const std::string& options) {
  auto config = load_ok("upstreams: {app: {instances: [\"127.0.0.1:9001\"]}}\nroutes:\n  - prefix: /\n"
                        "    upstream: app\n" +
                        options);
  REQUIRE(config->routes.size() == 1);
  return config->routes[0].upgrade;
}

constexpr ErrorCase kUpgradeErrors[] = {
    {"an empty list", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    upgrade: []
)", 5, 14, "must list at least one protocol (or leave upgrade out)"},

    {"a name that is not a token", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    upgrade: [websocket, "web socket"]
)", 5, 26, "invalid protocol name \"web socket\""},

    {"a protocol twice, whatever its case", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    upgrade: [websocket, WebSocket]
)", 5, 26, "duplicate protocol \"WebSocket\" (first at line 5)"},

    {"h2c", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    upgrade: [h2c]
)", 5, 15, "h2c cannot be tunnelled"},

    {"on a page route", R"(routes:
  - path: /p/{id}
    page: {template: "/dev/null"}
    upgrade: [websocket]
)", 4, 5, "routes[0]: upgrade needs an upstream, not a page route"},

    {"a tunnel_idle of zero", R"(timeouts: {tunnel_idle: 0s}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 1, 25, "tunnel_idle"},
};

}  // namespace

TEST_CASE("config upgrade: none by default, a protocol or a list, kept lowercase") {
  CHECK(upgrade("").empty());
  CHECK(upgrade("    upgrade: websocket\n") == std::vector<std::string>{"websocket"});
  CHECK(upgrade("    upgrade: [WebSocket, foo]\n") == std::vector<std::string>{"websocket", "foo"});
}

TEST_CASE("config upgrade: tunnel timeouts default to 5 minutes idle and a 2 s drain, and can be set") {
  auto d = load_ok("upstreams: {app: {instances: [\"127.0.0.1:9001\"]}}\nroutes: [{prefix: /, upstream: app}]\n");
  CHECK(d->timeouts.tunnel_idle == Duration{300'000});
  CHECK(d->timeouts.tunnel_drain == Duration{2'000});
  auto c = load_ok("timeouts: {tunnel_idle: 1h, tunnel_drain: 0s}\n"
                   "upstreams: {app: {instances: [\"127.0.0.1:9001\"]}}\nroutes: [{prefix: /, upstream: app}]\n");
  CHECK(c->timeouts.tunnel_idle == Duration{3'600'000});
  CHECK(c->timeouts.tunnel_drain == Duration{0});
}

TEST_CASE("config upgrade: each mistake at the node at fault") {
  check_errors(kUpgradeErrors);
}
