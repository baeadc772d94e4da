// Reload under load (issue 12, item 3): client threads send requests through
// the gateway, over keep-alive connections and over a new connection each,
// while the test sends SIGHUPs that add and remove a listener, change
// `workers` 2 -> 4 -> 1, resize the cache zone and change its tags_header.
// On the listener that stays, no request may fail and no connection may be
// refused; the counts are printed (the closing note reports them).
#include <doctest/doctest.h>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"
#include "harness_reload.hpp"
#include "harness_tls.hpp"

using namespace itest;

namespace {

struct Load {
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0}, refused{0};
  std::mutex mu;
  std::vector<std::string> failures;  // the first few, for the report

  void record(const Response& r) {
    if (r.status == 200) {
      ++ok;
      return;
    }
    bool refusal = r.status == 0 && (r.body.find("refused") != std::string::npos ||
                                     r.body.find("Couldn't connect") != std::string::npos);
    ++(refusal ? refused : failed);
    std::lock_guard lock(mu);
    if (failures.size() < 10) failures.push_back(std::to_string(r.status) + " " + r.body.substr(0, 200));
  }
};

// `n` requests at most, until told to stop; keep-alive on one Client, or a
// new connection per request.
void client(Load& load, std::uint16_t port, bool keep_alive, int seed, int n) {
  Client c;
  for (int i = 0; i < n && !load.stop.load(); ++i) {
    // Half cached (a few hot URLs), half through to the instance.
    std::string path = i % 2 ? "/api/chat/" + std::to_string((i + seed) % 40) + "?size=3000"
                             : "/api/channels/" + std::to_string(i) + "?size=500";
    auto u = url(port, path);
    load.record(keep_alive ? c.get(u) : http_get(u));
  }
}

std::string body(const std::string& zone_path, const SampleService& svc, int workers, const std::string& zone_extra) {
  return "workers: " + std::to_string(workers) + "\ncaches:\n  main: {path: \"" + zone_path + "\"" + zone_extra +
         "}\nupstreams:\n" + upstream_yaml("app", {&svc}, "retries: 0\nmax_fails: 0") +
         "routes:\n  - {prefix: /api/chat/, upstream: app, cache: {zone: main, ttl: 60s}}\n"
         "  - {prefix: /, upstream: app}\n";
}

}  // namespace

TEST_CASE("reload under load: listeners added and removed, workers 2-4-1, zone resized, tags_header changed, zero failures") {
  TempDir dir;
  SampleService svc(dir);
  const std::string kept = "listen: [\"127.0.0.1:0\"]\n";
  const std::string zone = dir.file("cache");
  EdgeGateway gw(dir, kept, body(zone, svc, 2, ", max_size: 8MiB"));
  const auto port = gw.port(0);
  const auto extra = free_port();
  const std::string both = "listen: [\"127.0.0.1:0\", \"127.0.0.1:" + std::to_string(extra) + "\"]\n";

  Load load;
  std::vector<std::thread> threads;
  constexpr int kPerThread = 20'000;  // bounded; the test stops them after the last reload
  for (int t = 0; t < 6; ++t) threads.emplace_back(client, std::ref(load), port, t % 2 == 0, t * 7, kPerThread);
  auto progress = [&] {
    // Some requests on each configuration: at least 100 more answers.
    const int from = load.ok.load() + load.failed.load();
    return eventually([&] { return load.ok.load() + load.failed.load() >= from + 100; }, 30s);
  };

  struct Step {
    const char* what;
    std::string listen;
    int workers;
    std::string zone_extra;
  };
  const Step steps[] = {
      {"add a listener", both, 2, ", max_size: 8MiB"},
      {"workers 4", both, 4, ", max_size: 8MiB"},
      {"remove the listener", kept, 4, ", max_size: 8MiB"},
      {"workers 1", kept, 1, ", max_size: 8MiB"},
      {"resize the zone", kept, 1, ", max_size: 64KiB, memory: 16KiB, policy: lru"},
      {"tags_header", kept, 1, ", max_size: 64KiB, memory: 16KiB, policy: lru, tags_header: X-Tag"},
      {"workers 2 and the listener again", both, 2, ", max_size: 1MiB"},
  };
  int reloads = 0;
  for (const auto& s : steps) {
    INFO("step: " << s.what);
    INFO("gateway error log:\n" << gw.error_log());
    REQUIRE(progress());
    gw.rewrite_config(s.listen, body(zone, svc, s.workers, s.zone_extra));
    CHECK(reload(gw.process()));
    ++reloads;
  }
  REQUIRE(progress());
  load.stop = true;
  for (auto& t : threads) t.join();

  MESSAGE("reload under load: " << reloads << " reloads, " << load.ok.load() << " requests answered, "
                                << load.failed.load() << " failed, " << load.refused.load() << " connections refused");
  for (const auto& f : load.failures) MESSAGE("failure: " << f);
  CHECK(load.failed.load() == 0);
  CHECK(load.refused.load() == 0);
  CHECK(load.ok.load() > 700);
  CHECK(json_int(http_get(url(gw.admin_port(), "/status")).body, "workers") == 2);
  CHECK(http_get(url(extra, "/api/channels/1")).status == 200);
}
