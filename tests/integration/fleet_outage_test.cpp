// Fleet mode end to end (issue 5), Redis trouble: Redis stopped mid-run,
// frozen or unreachable from the start never fails a request, is said once in
// the error log, and sharing resumes once it is back. A real redis-server,
// two gateway processes sharing it, one sample-service instance behind both;
// shared helpers are in fleet_fixture.hpp.
//
// Cache keys hold the Host header: every request names the same host
// (fleet.test) whichever gateway it goes to. The instance's /stats "requests"
// counts what reached the fleet's upstream. Nothing sleeps blindly: the tests
// poll Redis (a raw RESP client), the metrics or the gateways until the
// expected state shows.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "fleet_fixture.hpp"
#include "harness.hpp"

using namespace itest;
using namespace itest::fleet_test;

namespace {

// A GET and how long it took.
struct Timed {
  Response r;
  Ms took;
};
Timed timed_get(const Gateway& g, const std::string& path) {
  auto t0 = Clock::now();
  auto r = get(g, path);
  return {std::move(r), std::chrono::duration_cast<Ms>(Clock::now() - t0)};
}

// Error-log lines at warn or error level that mention Redis.
std::vector<std::string> redis_complaints(const Gateway& g) {
  std::vector<std::string> out;
  const std::string text = g.error_log();
  std::string_view log = text;
  while (!log.empty()) {
    auto nl = log.find('\n');
    auto line = log.substr(0, nl);
    if ((line.find("[warn]") != std::string_view::npos || line.find("[error]") != std::string_view::npos) &&
        (line.find("redis") != std::string_view::npos || line.find("Redis") != std::string_view::npos))
      out.emplace_back(line);
    if (nl == std::string_view::npos) break;
    log.remove_prefix(nl + 1);
  }
  return out;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

}  // namespace

// ------------------------------------------------------------------ Redis trouble

TEST_CASE("fleet: Redis stopped mid-run: every request succeeds quickly, one log line, and once restarted sharing resumes") {
  Fleet f;
  const std::string warm = "/api/channels/1?cache_control=max-age=300";
  fill_shared(f.a, f.redis, warm);
  REQUIRE(x_cache(get(f.b, warm)) == "HIT");
  CHECK(redis_complaints(f.a).empty());
  CHECK(redis_complaints(f.b).empty());

  // Traffic on both gateways throughout: fresh keys (misses that ask Redis
  // and try the lock) and the warm key (local hits). Keys differ per
  // gateway, so no request waits on the other gateway's fill lock.
  std::atomic<bool> stop{false};
  std::atomic<int> done{0};
  std::vector<Timed> results;
  std::mutex mu;
  std::thread traffic([&] {
    for (int i = 0; !stop.load(); ++i) {
      const Gateway& g = i % 2 ? f.b : f.a;
      std::string p = i % 3 == 0 ? warm
                                 : "/api/channels/" + std::to_string(1000 + i) + "?cache_control=max-age=300";
      auto t = timed_get(g, p);
      std::lock_guard lock(mu);
      results.push_back(std::move(t));
      done.fetch_add(1);
    }
  });
  auto wait_requests = [&](int n) {
    int target = done.load() + n;
    return eventually([&] { return done.load() >= target; }, 30s);
  };

  CHECK(wait_requests(10));
  f.redis.stop();
  CHECK(eventually([&] { return Fleet::redis_up(f.a) == 0 && Fleet::redis_up(f.b) == 0; }, 5s));
  CHECK(wait_requests(40));

  stop.store(true);
  traffic.join();
  int failed = 0;
  Ms slowest{0};
  for (const auto& t : results) {
    if (t.r.status != 200) ++failed;
    slowest = std::max(slowest, t.took);
  }
  INFO(results.size() << " requests, slowest " << slowest.count() << " ms");
  CHECK(results.size() >= 50);
  CHECK(failed == 0);
  CHECK(slowest < 1s);

  // While it is down: misses fill locally, hits stay hits.
  const std::string down = "/api/channels/9?cache_control=max-age=300";
  auto before = f.svc.stat("requests");
  auto m1 = timed_get(f.a, down);
  CHECK(m1.r.status == 200);
  CHECK(x_cache(m1.r) == "MISS");
  CHECK(eventually([&] { return x_cache(get(f.a, down)) == "HIT"; }, 5s));
  auto m2 = timed_get(f.b, down);
  CHECK(m2.r.status == 200);
  CHECK(x_cache(m2.r) == "MISS");  // nothing shared while Redis is away
  CHECK(f.svc.stat("requests") == before + 2);
  CHECK(x_cache(get(f.b, warm)) == "HIT");
  CHECK(m1.took < 1s);
  CHECK(m2.took < 1s);
  CHECK(tier_metric(f.a, "gateway_redis_errors_total") > 0);

  // One line about the loss per gateway, however many requests met it.
  INFO("A:\n" << joined(redis_complaints(f.a)) << "B:\n" << joined(redis_complaints(f.b)));
  CHECK(redis_complaints(f.a).size() == 1);
  CHECK(redis_complaints(f.b).size() == 1);

  // Back on the same port: sharing resumes (reconnects back off up to 5 s).
  f.redis.start();
  CHECK(eventually([&] { return Fleet::redis_up(f.a) == 1 && Fleet::redis_up(f.b) == 1; }, 15s));
  CHECK(eventually([&] { return Fleet::subscribers(f.redis, "gw:events") == 2; }, 5s));
  int round = 0;
  bool shared = eventually(
      [&] {
        std::string p = "/api/channels/" + std::to_string(2000 + ++round) + "?cache_control=max-age=300";
        if (get(f.a, p).status != 200) return false;
        if (!eventually([&] { return !entry_keys(f.redis, p).empty(); }, 1s)) return false;
        auto r = get(f.b, p);
        return x_cache(r) == "HIT" && cache_status(r).ends_with("; detail=shared-tier");
      },
      20s);
  CHECK(shared);
  // B's subscriber subscribed again: purges on A reach it.
  auto received = tier_metric(f.b, "gateway_redis_purges_received_total");
  purge(f.a, "prefix", "/api/channels/");
  CHECK(eventually([&] { return tier_metric(f.b, "gateway_redis_purges_received_total") == received + 1; }, 5s));
  CHECK(redis_complaints(f.a).size() == 1);
  CHECK(redis_complaints(f.b).size() == 1);
  CHECK(f.a.error_log().find("connected again") != std::string::npos);
  CHECK(f.b.error_log().find("connected again") != std::string::npos);
}

TEST_CASE("fleet: Redis frozen (accepts, never answers): requests succeed within the Redis timeout") {
  Options o;
  o.timeout = "100ms";
  Fleet f(o);
  const std::string warm = "/api/channels/1?cache_control=max-age=300";
  fill_shared(f.a, f.redis, warm);
  f.redis.freeze();
  Ms slowest{0};
  for (int i = 0; i < 6; ++i) {
    const Gateway& g = i % 2 ? f.b : f.a;
    auto t = timed_get(g, "/api/channels/" + std::to_string(3000 + i) + "?cache_control=max-age=300");
    CHECK(t.r.status == 200);
    CHECK(x_cache(t.r) == "MISS");
    slowest = std::max(slowest, t.took);
  }
  auto hit = timed_get(f.b, warm);  // B never had it: asks Redis, gives up, fetches
  CHECK(hit.r.status == 200);
  slowest = std::max(slowest, hit.took);
  INFO("slowest " << slowest.count() << " ms");
  CHECK(slowest < 1s);
  CHECK(tier_metric(f.a, "gateway_redis_errors_total") > 0);
  CHECK(tier_metric(f.b, "gateway_redis_errors_total") > 0);
  f.redis.thaw();
  int round = 0;
  CHECK(eventually(
      [&] {
        std::string p = "/api/channels/" + std::to_string(4000 + ++round) + "?cache_control=max-age=300";
        get(f.a, p);
        if (!eventually([&] { return !entry_keys(f.redis, p).empty(); }, 1s)) return false;
        return cache_status(get(f.b, p)).ends_with("; detail=shared-tier");
      },
      20s));
}

TEST_CASE("fleet: Redis unreachable from the start: the gateway starts, serves and caches locally, and shares once it appears") {
  TempDir redis_dir, svc_dir, dir;
  RedisServer redis(redis_dir);
  redis.stop();  // its port now refuses connections
  REQUIRE_FALSE(can_connect(redis.port()));
  SampleService svc(svc_dir);
  Gateway gw(dir, gateway_config(dir, redis.address(), svc, Options{}));

  const std::string p = "/api/channels/1?cache_control=max-age=300";
  auto r1 = timed_get(gw, p);
  CHECK(r1.r.status == 200);
  CHECK(x_cache(r1.r) == "MISS");
  CHECK(r1.took < 1s);
  CHECK(eventually([&] { return x_cache(get(gw, p)) == "HIT"; }, 5s));
  auto r2 = timed_get(gw, p);
  CHECK(x_cache(r2.r) == "HIT");
  CHECK(r2.took < 1s);
  CHECK(svc.stat("requests") == 1);
  CHECK(tier_metric(gw, "gateway_redis_up") == 0);
  CHECK(tier_metric(gw, "gateway_redis_errors_total") > 0);
  CHECK(gw.status().find("\"redis\":{\"up\":false") != std::string::npos);
  INFO("error log:\n" << gw.error_log());
  CHECK(redis_complaints(gw).size() <= 1);

  // Redis appears: the gateway connects (backoff up to 5 s) and fills it.
  redis.start();
  CHECK(eventually([&] { return tier_metric(gw, "gateway_redis_up") == 1; }, 15s));
  int round = 0;
  CHECK(eventually(
      [&] {
        std::string q = "/api/channels/" + std::to_string(5000 + ++round) + "?cache_control=max-age=300";
        get(gw, q);
        return eventually([&] { return !entry_keys(redis, q).empty(); }, 1s);
      },
      20s));
}

TEST_CASE("fleet: Redis unreachable at start-up is said once in the error log") {
  TempDir svc_dir, dir;
  SampleService svc(svc_dir);
  Gateway gw(dir, gateway_config(dir, "127.0.0.1:" + std::to_string(free_port()), svc, Options{}));
  for (int i = 0; i < 5; ++i) CHECK(get(gw, "/api/channels/" + std::to_string(6000 + i)).status == 200);
  // The subscriber retries with backoff; give it a few attempts.
  CHECK(eventually([&] { return tier_metric(gw, "gateway_redis_errors_total") >= 5; }, 5s));
  INFO("error log:\n" << gw.error_log());
  CHECK(eventually([&] { return redis_complaints(gw).size() == 1; }, 2s));
  CHECK(redis_complaints(gw).size() == 1);
}
