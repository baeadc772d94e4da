// Fleet mode on a Redis Cluster (issue 12): three masters made at test time
// (redis-cli --cluster create), two gateways whose zones name them as
// `redis: {cluster: [seeds]}`. Entries spread over the masters, each with
// its keys in one slot (hash tag); a fill through one gateway is a hit on
// the other; a purge on one reaches the other and every master; a slot
// moved to another master (MOVED) is followed.
#include <doctest/doctest.h>

#include <set>
#include <string>

#include "fleet_redis_fixture.hpp"
#include "harness_redis.hpp"

using namespace itest;
using namespace itest::fleet_test;

namespace {

struct ClusterFleet {
  ClusterFleet()
      : cluster(cluster_dir), svc(svc_dir),
        a(a_dir, redis_gateway_config(a_dir, "{cluster: " + cluster.seeds_yaml() + ", timeout: 250ms}", svc)),
        b(b_dir, redis_gateway_config(b_dir, "{cluster: " + cluster.seeds_yaml() + ", timeout: 250ms}", svc)) {
    REQUIRE(eventually([&] { return redis_up(a) == 1 && redis_up(b) == 1; }, 10s));
    // PUBLISH reaches every node's subscribers: each gateway listens on one node.
    REQUIRE(eventually([&] { return subscribers() == 2; }, 10s));
  }
  std::int64_t subscribers() {
    std::int64_t n = 0;
    for (std::size_t i = 0; i < cluster.size(); ++i) n += fleet_subscribers(cluster.node(i));
    return n;
  }
  // The entry key (gw:e:{tag}GET...) of `path`, once it is anywhere in the cluster.
  std::string entry_of(const std::string& path) {
    std::string found;
    eventually(
        [&] {
          for (auto& k : cluster.keys("gw:e:*"))
            if (k.find(path) != std::string::npos) found = k;
          return !found.empty();
        },
        5s);
    return found;
  }

  TempDir cluster_dir, svc_dir, a_dir, b_dir;
  RedisClusterSet cluster;
  SampleService svc;
  Gateway a, b;
};

std::string path_of(int i) { return "/api/channels/" + std::to_string(i) + "?cache_control=max-age=60&size=500"; }

}  // namespace

TEST_CASE("fleet cluster: entries spread over three masters are hits on the other gateway, purges reach it") {
  ClusterFleet f;
  constexpr int kPaths = 24;
  std::set<std::size_t> masters;
  for (int i = 0; i < kPaths; ++i) {
    auto r = get(f.a, path_of(i));
    REQUIRE(r.status == 200);
    CHECK(x_cache(r) == "MISS");
    std::string e = f.entry_of(path_of(i));
    REQUIRE_MESSAGE(!e.empty(), "not in the cluster: " << path_of(i));
    // The entry, its Vary spec and its lock share the entry's hash tag: one slot.
    REQUIRE(e.rfind("gw:e:{", 0) == 0);
    std::string tag = e.substr(5, 18);
    std::string v = "gw:v:" + tag + e.substr(5 + 18, e.find('\x1e') - 5 - 18);
    CHECK(f.cluster.keyslot(v) == f.cluster.keyslot(e));
    std::size_t owner = f.cluster.owner_of(f.cluster.keyslot(e));
    CHECK(f.cluster.node(owner).exists(e));
    CHECK(f.cluster.node(owner).exists(v));
    masters.insert(owner);
  }
  CHECK(masters.size() == 3);
  CHECK(f.svc.stat("requests") == kPaths);

  for (int i = 0; i < kPaths; ++i) {
    auto r = get(f.b, path_of(i));
    REQUIRE(r.status == 200);
    CHECK(x_cache(r) == "HIT");
    CHECK(cache_status(r).ends_with("; detail=shared-tier"));
  }
  CHECK(f.svc.stat("requests") == kPaths);
  CHECK(tier_metric(f.b, "gateway_redis_hits_total") == kPaths);

  // A prefix purge on A: every master's entries go (SCAN on each), and B drops its copies.
  auto res = purge(f.a, "prefix", "/api/channels/");
  CHECK(res.purged == kPaths);
  CHECK(res.purged_shared == kPaths);
  CHECK(f.cluster.keys("gw:e:*").empty());
  CHECK(f.cluster.keys("gw:v:*").empty());
  REQUIRE(eventually([&] { return tier_metric(f.b, "gateway_redis_purges_received_total") == 1; }, 5s));
  auto again = get(f.b, path_of(3));
  CHECK(again.status == 200);
  CHECK(x_cache(again) == "MISS");
  CHECK(f.svc.stat("requests") == kPaths + 1);
}

TEST_CASE("fleet cluster: a slot moved to another master is followed (MOVED), and a tag purge spans slots") {
  ClusterFleet f;
  // B learns the slot map.
  auto warm = get(f.b, path_of(100));
  REQUIRE(warm.status == 200);

  const std::string p = path_of(101);
  auto r = get(f.a, p);
  REQUIRE(r.status == 200);
  std::string e = f.entry_of(path_of(101));
  REQUIRE(!e.empty());
  auto slot = f.cluster.keyslot(e);
  std::size_t from = f.cluster.owner_of(slot);
  f.cluster.move_slot(slot, (from + 1) % f.cluster.size());
  CHECK(f.cluster.node((from + 1) % f.cluster.size()).exists(e));

  // B's map still names the old master: it answers MOVED, B follows.
  auto hit = get(f.b, p);
  CHECK(hit.status == 200);
  CHECK(x_cache(hit) == "HIT");
  CHECK(cache_status(hit).ends_with("; detail=shared-tier"));
  CHECK(f.svc.stat("requests") == 2);

  // A tag's entries lie in many slots: its purge deletes them slot by slot.
  std::set<std::uint16_t> slots;
  for (int i = 200; i < 206; ++i) {
    std::string t = "/api/recommended/" + std::to_string(i) + "?cache_control=max-age=300&header=Surrogate-Key:%20grp";
    REQUIRE(get(f.a, t).status == 200);
    std::string te = f.entry_of("/api/recommended/" + std::to_string(i) + "?");
    REQUIRE(!te.empty());
    slots.insert(f.cluster.keyslot(te));
  }
  CHECK(slots.size() > 1);
  auto res = purge(f.a, "tag", "grp");
  CHECK(res.purged == 6);
  CHECK(res.purged_shared == 6);
  CHECK(f.cluster.keys("gw:e:*recommended*").empty());
}
