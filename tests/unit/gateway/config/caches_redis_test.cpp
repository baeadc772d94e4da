// Tests for a zone's `redis:` beyond one server (issue 12): Sentinel
// (`sentinels` + `master_name`) and Redis Cluster (`cluster` seed nodes),
// read into cache::RedisConfig, each mistake at the node at fault, and zones
// whose keys would mix on one Sentinel master or cluster.
#include "gateway/config.hpp"

#include <doctest/doctest.h>

#include "config_check.hpp"

using namespace gateway;
using namespace gateway::config::testing;

namespace {

constexpr const char* kTail = "upstreams: {app: {instances: [\"127.0.0.1:9001\"]}}\nroutes: [{prefix: /, upstream: app}]\n";

std::string zone(const std::string& redis) {
  return "caches:\n  main:\n    path: var/cache\n    redis: " + redis + "\n" + kTail;
}

constexpr ErrorCase kErrors[] = {
    {"sentinels without master_name", R"(caches:
  main:
    path: var/cache
    redis:
      sentinels: ["127.0.0.1:26379"]
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 5, 7, "caches.main.redis: sentinels need master_name"},

    {"master_name without sentinels", R"(caches:
  main:
    path: var/cache
    redis:
      address: "127.0.0.1:6379"
      master_name: mymaster
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 6, 7, "caches.main.redis: master_name goes with sentinels"},

    {"an empty master_name", R"(caches:
  main:
    path: var/cache
    redis: {sentinels: ["127.0.0.1:26379"], master_name: ""}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 4, 58, "caches.main.redis.master_name: must not be empty"},

    {"cluster and address together", R"(caches:
  main:
    path: var/cache
    redis:
      address: "127.0.0.1:6379"
      cluster: ["127.0.0.1:7000"]
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 6, 7, "caches.main.redis: give address or cluster, not both"},

    {"cluster and sentinels together", R"(caches:
  main:
    path: var/cache
    redis:
      cluster: ["127.0.0.1:7000"]
      sentinels: ["127.0.0.1:26379"]
      master_name: mymaster
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 6, 7, "caches.main.redis: give sentinels or cluster, not both"},

    {"unix and sentinels together", R"(caches:
  main:
    path: var/cache
    redis:
      sentinels: ["127.0.0.1:26379"]
      master_name: mymaster
      unix: /run/redis.sock
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 7, 7, "caches.main.redis: give unix or sentinels, not both"},

    {"an empty cluster seed list", R"(caches:
  main:
    path: var/cache
    redis: {cluster: []}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 4, 22, "caches.main.redis.cluster: must list at least one host:port"},

    {"a cluster seed without a port", R"(caches:
  main:
    path: var/cache
    redis: {cluster: ["127.0.0.1:7000", "redis-2"]}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 4, 41, "caches.main.redis.cluster[1]: invalid address \"redis-2\""},

    {"sentinels as one string", R"(caches:
  main:
    path: var/cache
    redis: {sentinels: "127.0.0.1:26379", master_name: mymaster}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 4, 24, "caches.main.redis.sentinels: expected a list"},

    {"two zones on one Sentinel master with one key_prefix", R"(caches:
  a:
    path: var/a
    redis: {sentinels: ["127.0.0.1:26379"], master_name: mymaster}
  b:
    path: var/b
    redis: {sentinels: ["127.0.0.1:26379", "127.0.0.1:26380"], master_name: mymaster}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 7, 24, "key_prefix \"gw:\" is the key_prefix of zone \"a\" (line 2) on the same Redis"},

    {"two zones on one cluster with one key_prefix", R"(caches:
  a:
    path: var/a
    redis: {cluster: ["127.0.0.1:7000"]}
  b:
    path: var/b
    redis: {cluster: ["127.0.0.1:7001", "127.0.0.1:7000"]}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 7, 22, "key_prefix \"gw:\" is the key_prefix of zone \"a\" (line 2) on the same Redis"},
};

}  // namespace

TEST_CASE("config caches redis: sentinels with master_name, and cluster seeds, as read") {
  auto s = load_ok(zone("{sentinels: [\"127.0.0.1:26379\", \"10.0.0.2:26380\"], master_name: mymaster, timeout: 20ms}"));
  const auto& r = *s->caches.at(0).redis;
  REQUIRE(r.sentinels.size() == 2);
  CHECK(r.sentinels[0].host == "127.0.0.1");
  CHECK(r.sentinels[0].port == 26379);
  CHECK(r.sentinels[1].port == 26380);
  CHECK(r.master_name == "mymaster");
  CHECK_FALSE(r.address);
  CHECK(r.cluster.empty());
  CHECK(r.timeout == Duration{20});

  auto c = load_ok(zone("{cluster: [\"127.0.0.1:7000\", \"127.0.0.1:7001\", \"127.0.0.1:7002\"]}"));
  const auto& rc = *c->caches.at(0).redis;
  REQUIRE(rc.cluster.size() == 3);
  CHECK(rc.cluster[2].port == 7002);
  CHECK_FALSE(rc.address);
  CHECK(rc.sentinels.empty());
  CHECK(rc.key_prefix == "gw:");

  // Zones on different masters of one Sentinel set, or with their own prefixes, do not clash.
  load_ok("caches:\n  a: {path: var/a, redis: {sentinels: [\"127.0.0.1:26379\"], master_name: one}}\n"
          "  b: {path: var/b, redis: {sentinels: [\"127.0.0.1:26379\"], master_name: two}}\n"
          "  c: {path: var/c, redis: {cluster: [\"127.0.0.1:7000\"], key_prefix: \"c:\"}}\n"
          "  d: {path: var/d, redis: {cluster: [\"127.0.0.1:7000\"], key_prefix: \"d:\"}}\n" +
          std::string(kTail));
}

TEST_CASE("config caches redis: Sentinel and cluster mistakes, each at the node at fault") {
  check_errors(kErrors);
}
