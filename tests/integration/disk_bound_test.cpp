// The cache zone's disk bound with a real gateway (issue 10, item 6):
// clients fill unique keys as fast as they can while the entry files in the
// zone's bucket directories are counted exactly, from inotify events (a
// file renamed in, a file deleted), in the order they happened: a walk of
// the directories would count files deleted after it passed them and
// created before it reached them, more the longer a busy machine holds it
// up. Every entry has the same size, so the count bounds the bytes: never
// past max_size plus the fills in flight, one per connection (issue 10).
// The store aims tighter, one commit in progress per worker (a commit
// publishes its file before it deletes what it evicted), but that was
// passed by one entry on a machine at load 10. The temporary files of the
// fills in flight, sampled by walking tmp/, never pass one per connection.
// Every fill the gateway did not store because of its deletion backlog
// says so in Cache-Status and in /metrics. bench/disk_bound.py measures
// the same at full speed.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"
#include "../unit/cache/entry_counter.hpp"

using namespace itest;
using gateway::cache::testing::EntryCounter;
namespace fs = std::filesystem;

namespace {

std::uint64_t blocks(std::uint64_t n) { return (n + 4095) / 4096 * 4096; }

struct Usage {
  std::uint64_t entries = 0, tmp = 0;
};

Usage zone_usage(const std::string& root) {
  Usage u;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    std::error_code fec;
    if (!it->is_regular_file(fec)) continue;
    auto size = it->file_size(fec);
    if (fec) continue;  // deleted while we walked
    (it->path().parent_path().filename() == "tmp" ? u.tmp : u.entries) += blocks(size);
  }
  return u;
}

}  // namespace

TEST_CASE("cache: a full-speed fill of unique keys keeps the zone's files within max_size plus the fills in flight") {
  TempDir dir;
  SampleService svc(dir);
  constexpr std::uint64_t kMax = 1 << 20;
  constexpr int kWorkers = 2, kClients = 16;
  const std::string zone = dir.file("cache");
  Gateway gw(dir, "workers: " + std::to_string(kWorkers) + "\ncaches:\n  main: {path: \"" + zone +
                      "\", max_size: 1MiB, memory: 0}\nupstreams:\n" + upstream_yaml("app", {&svc}, "keepalive: 32") +
                      "routes:\n  - {prefix: /, upstream: app, cache: {zone: main, ttl: 60s}}\n");
  // An entry: 8 KiB of body, its head and metadata, in 4 KiB blocks.
  const std::uint64_t one = 12 << 10;
  // The bucket directories (16 for a 1 MiB zone) exist before the load.
  REQUIRE(eventually([&] { return std::distance(fs::directory_iterator(zone), fs::directory_iterator()) == 17; }));
  EntryCounter counter(zone);
  REQUIRE(counter.dirs() == 16);

  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0}, refused_seen{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < kClients; ++t)
    clients.emplace_back([&, t] {
      RawConnection c(gw.port());
      for (int i = 0; !stop.load(); ++i) {
        std::string req = "GET /api/channels/" + std::to_string(t) + "-" + std::to_string(i) +
                          "?size=8192&cache_control=max-age=60 HTTP/1.1\r\nHost: disk.test\r\n\r\n";
        auto rs = c.send(req) ? parse_responses(c.read_responses(1, 10s)) : std::vector<RawResponse>{};
        if (rs.size() != 1 || rs[0].status != 200 || rs[0].body.size() != 8192) {
          ++failed;
          return;
        }
        ++ok;
        if (head_header(rs[0].head, "Cache-Status").value_or("").find("detail=disk-backlog") != std::string::npos)
          ++refused_seen;
      }
    });
  std::uint64_t peak_tmp = 0;
  bool exact = true;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (std::chrono::steady_clock::now() < until) {
    exact = counter.poll() && exact;
    peak_tmp = std::max(peak_tmp, zone_usage(zone).tmp);
  }
  stop = true;
  for (auto& c : clients) c.join();
  exact = counter.poll() && exact;

  const auto m = gw.metrics();
  const auto evictions = metric(m, "gateway_cache_evictions_total{zone=\"main\"}").value_or(-1);
  const auto refused = metric(m, "gateway_cache_disk_backlog_refused_total{zone=\"main\"}").value_or(-1);
  INFO(ok << " responses, " << evictions << " evictions, " << refused << " not stored for the backlog");
  INFO("peak entry files " << counter.peak() << " x " << one << " (max_size " << kMax << "), peak tmp " << peak_tmp);
  CHECK(failed == 0);
  REQUIRE(evictions > 200);
  REQUIRE(exact);
  CHECK(counter.peak() * one <= kMax + kClients * one);
  CHECK(peak_tmp <= kClients * one);
  CHECK(refused == refused_seen);
  // Quiet again: nothing waits for deletion, and the gauge is what is on disk.
  CHECK(eventually([&] { return metric(gw.metrics(), "gateway_cache_disk_backlog_files{zone=\"main\"}") == 0; }));
  const auto on_disk = zone_usage(zone).entries;
  CHECK(metric(gw.metrics(), "gateway_cache_disk_bytes{zone=\"main\"}") == on_disk);
  counter.poll();
  CHECK(static_cast<std::uint64_t>(counter.now()) * one == on_disk);
}
