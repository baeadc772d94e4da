// Fleet mode behind Redis Sentinel (issue 12): a master, its replica and a
// Sentinel made at test time; two gateways whose zones name the Sentinel
// (`redis: {sentinels: [...], master_name: mymaster}`). They find the master
// through it, share entries, and follow a failover (SENTINEL FAILOVER) while
// requests run: no request fails, and sharing and the purge subscription
// resume on the new master.
#include <doctest/doctest.h>

#include <atomic>
#include <string>
#include <thread>

#include "fleet_redis_fixture.hpp"
#include "harness_redis.hpp"

using namespace itest;
using namespace itest::fleet_test;

namespace {

std::string sentinel_redis(const RedisSentinelSet& set) {
  return "{sentinels: " + set.sentinels_yaml() + ", master_name: mymaster, timeout: 250ms}";
}

// Requests through both gateways, on fresh and repeated paths, until stopped:
// counts those that are not 200.
struct Load {
  Load(const Gateway& a, const Gateway& b) {
    thread = std::thread([&, this] {
      for (int i = 0; !stop.load(); ++i) {
        const Gateway& g = i % 2 ? a : b;
        auto r = get(g, "/api/channels/" + std::to_string(1000 + i % 50) + "?cache_control=max-age=1&size=200");
        ++sent;
        if (r.status != 200) ++failed;
      }
    });
  }
  ~Load() { finish(); }
  void finish() {
    stop = true;
    if (thread.joinable()) thread.join();
  }
  std::atomic<bool> stop{false};
  std::atomic<int> sent{0}, failed{0};
  std::thread thread;
};

}  // namespace

TEST_CASE("fleet sentinel: gateways share through the master a Sentinel names and follow its failover") {
  TempDir redis_dir, svc_dir, a_dir, b_dir;
  RedisSentinelSet set(redis_dir);
  SampleService svc(svc_dir);
  Gateway a(a_dir, redis_gateway_config(a_dir, sentinel_redis(set), svc));
  Gateway b(b_dir, redis_gateway_config(b_dir, sentinel_redis(set), svc));
  RedisServer* master = &set.by_port(set.master_port());
  REQUIRE(eventually([&] { return redis_up(a) == 1 && redis_up(b) == 1; }, 10s));
  REQUIRE(eventually([&] { return fleet_subscribers(*master) == 2; }, 10s));

  const std::string p1 = "/api/channels/1?cache_control=max-age=60&size=1000";
  fill_shared(a, *master, p1);
  auto hit = get(b, p1);
  CHECK(x_cache(hit) == "HIT");
  CHECK(cache_status(hit).ends_with("; detail=shared-tier"));

  Load load(a, b);
  REQUIRE(eventually([&] { return load.sent.load() >= 20; }, 10s));
  std::uint16_t new_port = set.failover();
  RedisServer* next = &set.by_port(new_port);
  REQUIRE(next != master);
  // Both subscribers moved to the new master.
  CHECK(eventually([&] { return fleet_subscribers(*next) == 2; }, 15s));
  int before = load.sent.load();
  REQUIRE(eventually([&] { return load.sent.load() >= before + 20; }, 10s));
  load.finish();
  MESSAGE("requests around the failover: " << load.sent.load() << ", failed: " << load.failed.load());
  CHECK(load.failed.load() == 0);

  // Sharing resumes on the new master: a fill through A is there, and a hit on B.
  const std::string p2 = "/api/channels/2?cache_control=max-age=60&size=1000";
  fill_shared(a, *next, p2);
  auto hit2 = get(b, p2);
  CHECK(x_cache(hit2) == "HIT");
  CHECK(cache_status(hit2).ends_with("; detail=shared-tier"));
  // And purges reach B through the new master.
  auto res = purge(a, "url", std::string("http://") + kHost + p2);
  CHECK(res.purged_shared == 1);
  CHECK(eventually([&] { return tier_metric(b, "gateway_redis_purges_received_total") == 1; }, 5s));
  CHECK(x_cache(get(b, p2)) == "MISS");
}
