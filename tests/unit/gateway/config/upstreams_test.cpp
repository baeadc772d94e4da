// Tests for the `upstreams:` section (gateway/config/upstreams.cpp): each
// group's instances and weights, balancing, keep-alive, retries, failure
// counting, the panic threshold and health checks.
#include "gateway/config.hpp"

#include <doctest/doctest.h>

#include "config_check.hpp"

using namespace gateway;
using namespace gateway::config::testing;

namespace {

constexpr ErrorCase kGroupErrors[] = {
    {"unknown key in an upstream", R"(upstreams:
  app:
    instances: ["127.0.0.1:9001"]
    retires: 2
routes: [{prefix: /, upstream: app}]
)", 4, 5, "unknown key \"retires\" in upstreams.app"},

    {"a duplicate upstream", R"(upstreams:
  app: {instances: ["127.0.0.1:9001"]}
  app: {instances: ["127.0.0.1:9002"]}
routes: [{prefix: /, upstream: app}]
)", 3, 3, "duplicate upstream \"app\" in upstreams (first at line 2)"},

    {"an invalid upstream name", R"(upstreams:
  "my app": {instances: ["127.0.0.1:9001"]}
routes: [{prefix: /, upstream: my app}]
)", 2, 3, "invalid upstream name \"my app\""},

    {"an upstream without instances", R"(upstreams:
  app:
    retries: 2
routes: [{prefix: /, upstream: app}]
)", 3, 5, "upstreams.app: missing required key \"instances\""},

    {"keepalive out of range", R"(upstreams:
  app:
    instances: ["127.0.0.1:9001"]
    keepalive: 10001
routes: [{prefix: /, upstream: app}]
)", 4, 16, "10001 is out of range (0..10000)"},

    {"a negative retry count", R"(upstreams:
  app:
    instances: ["127.0.0.1:9001"]
    retries: -1
routes: [{prefix: /, upstream: app}]
)", 4, 14, "-1 is out of range (0..100)"},

    {"max_fails and its alias together", R"(upstreams:
  app:
    instances: ["127.0.0.1:9001"]
    max_fails: 2
    fails: 3
routes: [{prefix: /, upstream: app}]
)", 5, 5, "not both"},

    {"a panic threshold over 100%", R"(upstreams:
  app:
    instances: ["127.0.0.1:9001"]
    panic_threshold: 150%
routes: [{prefix: /, upstream: app}]
)", 4, 22, "upstreams.app.panic_threshold: 150% is out of range (0%..100%)"},

    {"a panic threshold without a percent sign", R"(upstreams:
  app:
    instances: ["127.0.0.1:9001"]
    panic_threshold: 50
routes: [{prefix: /, upstream: app}]
)", 4, 22, "invalid percentage \"50\" (a whole number from 0% to 100%, e.g. 50%)"},

    {"a negative panic threshold", R"(upstreams:
  app:
    instances: ["127.0.0.1:9001"]
    panic_threshold: -5%
routes: [{prefix: /, upstream: app}]
)", 4, 22, "invalid percentage \"-5%\""},

    {"a fractional panic threshold", R"(upstreams:
  app:
    instances: ["127.0.0.1:9001"]
    panic_threshold: 12.5%
routes: [{prefix: /, upstream: app}]
)", 4, 22, "invalid percentage \"12.5%\""},

    {"a panic threshold that is a list", R"(upstreams:
  app:
    instances: ["127.0.0.1:9001"]
    panic_threshold: [50%]
routes: [{prefix: /, upstream: app}]
)", 4, 22, "expected a string, got a list"},

    {"a huge panic threshold", R"(upstreams:
  app:
    instances: ["127.0.0.1:9001"]
    panic_threshold: 99999999999999999999%
routes: [{prefix: /, upstream: app}]
)", 4, 22, "is out of range (0%..100%)"},

    {"an unknown balance", R"(upstreams:
  app:
    balance: random
    instances: ["127.0.0.1:9001"]
routes: [{prefix: /, upstream: app}]
)", 3, 14, "unknown value \"random\" (expected one of: round_robin, weighted, least_conn, hash, p2c)"},
};

constexpr ErrorCase kInstanceErrors[] = {
    {"an empty instance list", R"(upstreams:
  app:
    instances: []
routes: [{prefix: /, upstream: app}]
)", 3, 16, "upstreams.app.instances: must list at least one instance"},

    {"an instance map without an address", R"(upstreams:
  app:
    instances:
      - {weight: 2}
routes: [{prefix: /, upstream: app}]
)", 4, 9, "missing required key \"address\""},

    {"port 0 for an instance", R"(upstreams:
  app:
    instances:
      - "127.0.0.1:0"
routes: [{prefix: /, upstream: app}]
)", 4, 9, "upstreams.app.instances[0]: invalid address \"127.0.0.1:0\""},

    {"a duplicate instance", R"(upstreams:
  app:
    instances:
      - "127.0.0.1:9001"
      - {address: "127.0.0.1:9001", weight: 3}
routes: [{prefix: /, upstream: app}]
)", 5, 19, "duplicate instance \"127.0.0.1:9001\" (first at line 4)"},

    {"a weight out of range", R"(upstreams:
  app:
    instances: [{address: "127.0.0.1:9001", weight: 0}]
routes: [{prefix: /, upstream: app}]
)", 3, 53, "0 is out of range (1..1000)"},
};

constexpr ErrorCase kHealthErrors[] = {
    {"unknown key in health", R"(upstreams:
  app:
    instances: ["127.0.0.1:9001"]
    health: {path: /h, every: 2s}
routes: [{prefix: /, upstream: app}]
)", 4, 24, "unknown key \"every\""},

    {"a health path without a slash", R"(upstreams:
  app:
    instances: ["127.0.0.1:9001"]
    health:
      path: health
routes: [{prefix: /, upstream: app}]
)", 5, 13, "path \"health\" must start with '/'"},
};

}  // namespace

TEST_CASE("config upstreams: an upstream's instances and weights") {
  auto config = load_ok(R"(upstreams:
  channels:
    balance: weighted
    instances:
      - "127.0.0.1:9001"
      - {address: "127.0.0.1:9003", weight: 2}
routes: [{prefix: /, upstream: channels}]
)");
  REQUIRE(config->upstreams.size() == 1);
  const auto& channels = config->upstreams[0];
  CHECK(channels.name == "channels");
  CHECK(channels.balance == upstreams::Balance::weighted);
  REQUIRE(channels.instances.size() == 2);
  CHECK(channels.instances[0].address.port == 9001);
  CHECK(channels.instances[0].weight == 1);
  CHECK(channels.instances[1].address.text == "127.0.0.1:9003");
  CHECK(channels.instances[1].weight == 2);
}

TEST_CASE("config upstreams: an upstream's keep-alive, retries and failure counting") {
  auto config = load_ok(R"(upstreams:
  channels:
    instances: ["127.0.0.1:9001"]
    keepalive: 16
    retries: 2
    max_fails: 3
    fail_timeout: 20s
routes: [{prefix: /, upstream: channels}]
)");
  const auto& channels = config->upstreams[0];
  CHECK(channels.keepalive == 16);
  CHECK(channels.retries == 2);
  CHECK(channels.max_fails == 3);
  CHECK(channels.fail_timeout == Duration{20'000});
}

TEST_CASE("config upstreams: an upstream's health check") {
  auto config = load_ok(R"(upstreams:
  channels:
    instances: ["127.0.0.1:9001"]
    health: {path: /healthz, interval: 5s, timeout: 500ms, passes: 2, fails: 3}
routes: [{prefix: /, upstream: channels}]
)");
  const auto& channels = config->upstreams[0];
  REQUIRE(channels.health.has_value());
  CHECK(channels.health->path == "/healthz");
  CHECK(channels.health->interval == Duration{5'000});
  CHECK(channels.health->timeout == Duration{500});
  CHECK(channels.health->passes == 2);
  CHECK(channels.health->fails == 3);
}

TEST_CASE("config upstreams: an upstream's panic threshold, 50% unless given") {
  auto config = load_ok(R"(upstreams:
  a: {instances: ["127.0.0.1:9001"]}
  b: {instances: ["127.0.0.1:9002"], panic_threshold: 0%}
  c: {instances: ["127.0.0.1:9003"], panic_threshold: 100%}
  d: {instances: ["127.0.0.1:9004"], panic_threshold: "30%"}
routes: [{prefix: /, upstream: a}]
)");
  REQUIRE(config->upstreams.size() == 4);
  CHECK(config->upstreams[0].panic_threshold == 50);
  CHECK(config->upstreams[1].panic_threshold == 0);
  CHECK(config->upstreams[2].panic_threshold == 100);
  CHECK(config->upstreams[3].panic_threshold == 30);
}

TEST_CASE("config upstreams: only instances given: the defaults, and fails is max_fails") {
  auto config = load_ok(R"(upstreams:
  chat:
    instances: ["[::1]:9100"]
    fails: 0
routes: [{prefix: /, upstream: chat}]
)");
  const auto& chat = config->upstreams[0];
  CHECK(chat.instances[0].address.host == "::1");
  CHECK(chat.balance == upstreams::Balance::round_robin);  // default
  CHECK(chat.keepalive == 32);                              // default
  CHECK(chat.max_fails == 0);                               // through the alias `fails`
  CHECK_FALSE(chat.health.has_value());
}

TEST_CASE("config upstreams: a name with dots, dashes and underscores, keepalive 0 and retries 0") {
  auto config = load_ok(R"(upstreams:
  a.b-c_1: {instances: ["127.0.0.1:1"], keepalive: 0, retries: 0}
routes:
  - {prefix: /x, upstream: a.b-c_1}
)");
  CHECK(config->upstreams[0].name == "a.b-c_1");
  CHECK(config->upstreams[0].keepalive == 0);
  CHECK(config->upstreams[0].retries == 0);
}

TEST_CASE("config upstreams: an upstream group: each mistake at the node at fault") {
  check_errors(kGroupErrors);
}

TEST_CASE("config upstreams: an upstream's instances: each mistake at the node at fault") {
  check_errors(kInstanceErrors);
}

TEST_CASE("config upstreams: an upstream's health check: each mistake at the node at fault") {
  check_errors(kHealthErrors);
}
