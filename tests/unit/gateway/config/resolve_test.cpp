// Tests for `resolve:` on an upstream group and the top-level `resolver:`
// list (gateway/config/upstreams.cpp): values read, and each mistake at the
// node at fault.
#include "gateway/config.hpp"

#include <doctest/doctest.h>

#include "config_check.hpp"

using namespace gateway;
using namespace gateway::config::testing;

namespace {

constexpr ErrorCase kResolveErrors[] = {
    {"resolve not a duration", R"(upstreams:
  app:
    instances: ["svc.internal:9001"]
    resolve: often
routes: [{prefix: /, upstream: app}]
)", 4, 14, "often"},

    {"resolver not a list", R"(resolver: "127.0.0.1:53"
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 1, 11, "resolver"},

    {"a resolver that is a name", R"(resolver: ["dns.internal:53"]
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 1, 12, "invalid DNS server \"dns.internal:53\" (an IP address, with a port or 53)"},
};

}  // namespace

TEST_CASE("config resolve: resolve and resolver mistakes at the node at fault") { check_errors(kResolveErrors); }

TEST_CASE("config resolve: the values read, and their defaults") {
  auto off = load_ok(R"(upstreams: {app: {instances: ["svc.internal:9001"]}}
routes: [{prefix: /, upstream: app}]
)");
  CHECK(off->upstreams[0].resolve.count() == 0);
  CHECK(off->resolver.empty());
  auto on = load_ok(R"(resolver: ["127.0.0.1:5353", "10.0.0.2", "[::1]:53"]
upstreams: {app: {instances: ["svc.internal:9001"], resolve: 5s}}
routes: [{prefix: /, upstream: app}]
)");
  CHECK(on->upstreams[0].resolve == Duration{5'000});
  REQUIRE(on->resolver.size() == 3);
  CHECK(on->resolver[0].text == "127.0.0.1:5353");
  CHECK(on->resolver[1].text == "10.0.0.2:53");
  CHECK(on->resolver[2].text == "[::1]:53");
}
