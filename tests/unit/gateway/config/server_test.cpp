// Tests for the server's own sections (gateway/config/server.cpp): listen,
// workers, admin, access_log, limits and timeouts.
#include "gateway/config.hpp"

#include <doctest/doctest.h>

#include "config_check.hpp"

using namespace gateway;
using namespace gateway::config::testing;

namespace {

constexpr ErrorCase kServerErrors[] = {
    {"a bad listen address", R"(listen: ["127.0.0.1:8080", "127.0.0.1"]
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 1, 28, "listen[1]: invalid address \"127.0.0.1\""},

    {"a listen address given twice", R"(listen: ["127.0.0.1:8080", "127.0.0.1:8080"]
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 1, 28, "listed twice"},

    {"a bad admin address", R"(admin:
  listen: "localhost"
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 2, 11, "admin.listen: invalid address \"localhost\""},

    {"too many workers", R"(workers: 300
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 1, 10, "workers: 300 is out of range (1..256)"},

    {"workers neither auto nor a number", R"(workers: lots
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 1, 10, "expected an integer, got \"lots\""},

    {"a zero connect timeout", R"(timeouts:
  upstream_connect: 0s
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 2, 21, "at least 1ms"},
};

}  // namespace

TEST_CASE("config server: listen addresses, workers and the admin listener") {
  auto loaded = load_ok(R"(listen: ["127.0.0.1:8080", "[::1]:0"]
workers: 4
admin: {listen: "127.0.0.1:0"}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)");
  const auto& config = *loaded;
  REQUIRE(config.listen.size() == 2);
  CHECK(config.listen[0].address.text == "127.0.0.1:8080");
  CHECK(config.listen[0].address.host == "127.0.0.1");
  CHECK(config.listen[0].address.port == 8080);
  CHECK(config.listen[1].address.host == "::1");
  CHECK(config.listen[1].address.port == 0);
  CHECK(config.workers == 4);
  REQUIRE(config.admin.listen.has_value());
  CHECK(config.admin.listen->port == 0);
}

TEST_CASE("config server: one listen address alone, workers auto, a normal absolute log path") {
  auto loaded = load_ok(R"(listen: "0.0.0.0:0"
workers: auto
access_log: /var/log/gateway/../access.log
upstreams: {app: {instances: ["127.0.0.1:1"]}}
routes: [{prefix: /x, upstream: app}]
)");
  const auto& config = *loaded;
  CHECK(config.listen.size() == 1);
  CHECK(config.listen[0].address.port == 0);
  CHECK(config.workers == 0);
  CHECK(config.access_log == "/var/log/access.log");
}

TEST_CASE("config server: off keeps access_log off") {
  auto config = load_ok(R"(access_log: "off"
upstreams: {app: {instances: ["127.0.0.1:1"]}}
routes: [{prefix: /, upstream: app}]
)");
  CHECK(config->access_log == "off");
}

TEST_CASE("config server: limits and timeouts: the keys given, and the defaults for the rest") {
  auto loaded = load_ok(R"(limits: {header_bytes: 32KiB, uri_bytes: 4k, body_bytes: 1GB, headers: 50}
timeouts:
  client_header: 5s
  keepalive: 1m30s
  upstream_connect: 250ms
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)");
  const auto& config = *loaded;
  CHECK(config.limits.header_bytes == 32 * 1024);
  CHECK(config.limits.uri_bytes == 4 * 1024);
  CHECK(config.limits.body_bytes == 1'000'000'000);
  CHECK(config.limits.headers == 50);

  CHECK(config.timeouts.client_header == Duration{5'000});
  CHECK(config.timeouts.keepalive == Duration{90'000});
  CHECK(config.timeouts.upstream_connect == Duration{250});
  CHECK(config.timeouts.client_body == Duration{30'000});  // default
  CHECK(config.timeouts.shutdown == Duration{10'000});     // default
}

TEST_CASE("config server: listen, workers, admin and timeouts: each mistake at the node at fault") {
  check_errors(kServerErrors);
}
