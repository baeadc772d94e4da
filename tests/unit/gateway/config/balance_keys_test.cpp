// Tests for the balancing keys of an upstream group (gateway/config/
// upstreams.cpp, issue 12): balance p2c, slow_start, max_conns, max_queue
// and queue_timeout, their defaults and each mistake at its node.
#include "gateway/config.hpp"

#include <doctest/doctest.h>

#include "config_check.hpp"

using namespace gateway;
using namespace gateway::config::testing;

namespace {

constexpr ErrorCase kBalanceKeyErrors[] = {
    {"a negative max_conns", R"(upstreams:
  app:
    instances: ["127.0.0.1:9001"]
    max_conns: -1
routes: [{prefix: /, upstream: app}]
)", 4, 16, "-1 is out of range (0..1000000)"},

    {"max_conns not a number", R"(upstreams:
  app:
    instances: ["127.0.0.1:9001"]
    max_conns: many
routes: [{prefix: /, upstream: app}]
)", 4, 16, "expected an integer"},

    {"a negative max_queue", R"(upstreams:
  app:
    instances: ["127.0.0.1:9001"]
    max_queue: -5
routes: [{prefix: /, upstream: app}]
)", 4, 16, "-5 is out of range (0..1000000)"},

    {"a malformed slow_start", R"(upstreams:
  app:
    instances: ["127.0.0.1:9001"]
    slow_start: soon
routes: [{prefix: /, upstream: app}]
)", 4, 17, "soon"},

    {"a queue_timeout of zero", R"(upstreams:
  app:
    instances: ["127.0.0.1:9001"]
    queue_timeout: 0s
routes: [{prefix: /, upstream: app}]
)", 4, 20, "queue_timeout: duration \"0s\" must be at least 1ms"},

    {"a misspelt max_conns", R"(upstreams:
  app:
    instances: ["127.0.0.1:9001"]
    maxconn: 10
routes: [{prefix: /, upstream: app}]
)", 4, 5, "unknown key \"maxconn\" in upstreams.app"},
};

}  // namespace

TEST_CASE("config balance keys: each mistake at the node at fault") { check_errors(kBalanceKeyErrors); }

TEST_CASE("config balance keys: the defaults: no slow start, no limit, a queue of 100 for 5s") {
  auto config = load_ok(R"(upstreams:
  app: {instances: ["127.0.0.1:9001"]}
routes: [{prefix: /, upstream: app}]
)");
  const auto& app = config->upstreams[0];
  CHECK(app.slow_start == Duration{0});
  CHECK(app.max_conns == 0);
  CHECK(app.max_queue == 100);
  CHECK(app.queue_timeout == Duration{5'000});
}

TEST_CASE("config balance keys: p2c, slow_start, max_conns, max_queue and queue_timeout as given") {
  auto config = load_ok(R"(upstreams:
  app:
    balance: p2c
    instances: ["127.0.0.1:9001", "127.0.0.1:9002"]
    slow_start: 30s
    max_conns: 8
    max_queue: 0
    queue_timeout: 250ms
routes: [{prefix: /, upstream: app}]
)");
  const auto& app = config->upstreams[0];
  CHECK(app.balance == upstreams::Balance::p2c);
  CHECK(app.slow_start == Duration{30'000});
  CHECK(app.max_conns == 8);
  CHECK(app.max_queue == 0);
  CHECK(app.queue_timeout == Duration{250});
}
