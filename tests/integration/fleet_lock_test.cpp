// The fleet lock's waiters when Redis goes away during the wait (issue 10,
// item 7): a gateway that waits for another gateway's fill of a key learns
// of it only through Redis; once its connection to Redis is lost no
// announcement can come, and it fetches at once instead of waiting out
// lock_timeout. The "other gateway" is a lock key set by hand, so the wait
// is certain; lock_timeout is long (10 s) so that waiting it out shows.
#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "harness.hpp"

using namespace itest;

namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kHost = "lock.test";

struct LockFleet {
  LockFleet()
      : redis(redis_dir),
        svc(svc_dir),
        gw(gw_dir, "workers: 1\ncaches:\n  main: {path: \"" + gw_dir.file("cache") + "\", redis: {address: \"" +
                       redis.address() + "\", timeout: 100ms, lock_timeout: 10s}}\nupstreams:\n" +
                       upstream_yaml("app", {&svc}, "retries: 0\nmax_fails: 0") +
                       "routes:\n  - {prefix: /, upstream: app, cache: {zone: main, ttl: 60s}}\n") {
    REQUIRE(eventually([&] { return metric(gw.metrics(), "gateway_redis_up{zone=\"main\"}") == 1; }, 10s));
    REQUIRE(eventually(
        [&] {
          auto v = redis.command({"PUBSUB", "NUMSUB", "gw:events"});
          return v.elements.size() == 2 && v.elements[1].integer == 1;
        },
        10s));
  }
  double tier(std::string_view name) const {
    return metric(gw.metrics(), std::string(name) + "{zone=\"main\"}").value_or(-1);
  }
  // Another gateway holds the fill lock of `path` (for a minute).
  void lock_elsewhere(const std::string& path) {
    auto r = redis.command({"SET", std::string("gw:l:GET\x1f") + kHost + "\x1f" + path, "another-gateway", "PX",
                            "60000"});
    REQUIRE(r.type == '+');
  }
  std::string request(const std::string& path) const {
    return "GET " + path + " HTTP/1.1\r\nHost: " + kHost + "\r\n\r\n";
  }

  TempDir redis_dir, svc_dir, gw_dir;
  RedisServer redis;
  SampleService svc;
  Gateway gw;
};

}  // namespace

TEST_CASE("fleet lock: a waiter whose Redis stops mid-wait fetches at once, not after lock_timeout") {
  LockFleet f;
  const std::string p = "/api/channels/21?cache_control=max-age=60";
  f.lock_elsewhere(p);
  RawConnection c(f.gw.port());
  REQUIRE(c.send(f.request(p)));
  REQUIRE(eventually([&] { return f.tier("gateway_redis_lock_waits_total") == 1; }, 5s));

  auto t0 = Clock::now();
  f.redis.stop();
  auto r = parse_responses(c.read_responses(1, 15s));
  auto took = std::chrono::duration_cast<Ms>(Clock::now() - t0);
  REQUIRE(r.size() == 1);
  CHECK(r[0].status == 200);
  CHECK(head_header(r[0].head, "X-Cache") == "MISS");
  INFO("answered " << took.count() << " ms after Redis stopped (lock_timeout 10 s)");
  CHECK(took < 3s);
  CHECK(f.svc.stat("requests") == 1);
  CHECK(f.tier("gateway_redis_lock_waits_cut_total") == 1);
}

TEST_CASE("fleet lock: a waiter whose Redis freezes mid-wait fetches once a command to it times out") {
  LockFleet f;
  const std::string p = "/api/channels/22?cache_control=max-age=60";
  f.lock_elsewhere(p);
  RawConnection c(f.gw.port());
  REQUIRE(c.send(f.request(p)));
  REQUIRE(eventually([&] { return f.tier("gateway_redis_lock_waits_total") == 1; }, 5s));

  auto t0 = Clock::now();
  f.redis.freeze();
  // Another request asks Redis, which does not answer within the 100 ms
  // timeout: the connection is dropped as lost, and the waiter is told.
  auto other = http_get(url(f.gw.port(), "/api/channels/23?cache_control=max-age=60"),
                        {std::string("Host: ") + kHost});
  CHECK(other.status == 200);
  auto r = parse_responses(c.read_responses(1, 15s));
  auto took = std::chrono::duration_cast<Ms>(Clock::now() - t0);
  f.redis.thaw();
  REQUIRE(r.size() == 1);
  CHECK(r[0].status == 200);
  INFO("answered " << took.count() << " ms after Redis froze (lock_timeout 10 s)");
  CHECK(took < 3s);
  CHECK(f.tier("gateway_redis_lock_waits_cut_total") == 1);
}
