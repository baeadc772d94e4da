// The disk cache end to end, the zone on disk: a restarted gateway serves
// what is on disk, damaged entry files are dropped at start-up, and max_size
// holds under eviction (LRU and S3-FIFO). Real gateway and sample-service
// processes, a cache zone in a temporary directory; shared helpers are in
// cache_fixture.hpp.
//
// The instance's /stats ("requests") counts what reached the fleet. Where
// time must pass for an entry to go stale, TTLs are 1-3 s and the test polls
// (each poll a HIT, which costs the fleet nothing) until the cache's answer
// changes; nothing sleeps blindly.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cache_fixture.hpp"
#include "harness.hpp"

using namespace itest;
using namespace itest::cache_test;
namespace fs = std::filesystem;

namespace {

std::uint64_t disk_usage(const std::string& zone) {
  std::uint64_t total = 0;
  std::error_code ec;
  for (const auto& p : entry_files(zone)) total += fs::file_size(p, ec);
  return total;
}

// The entry file whose metadata holds `needle` (a target; keys are stored
// in clear in the file).
std::optional<fs::path> file_holding(const std::string& zone, std::string_view needle) {
  for (const auto& p : entry_files(zone))
    if (read_file(p.string()).find(needle) != std::string::npos) return p;
  return std::nullopt;
}

// Waits until the start-up loader went through `files` entry files (or
// timeout); returns the last /status.
std::string wait_loaded(const Gateway& gw, std::int64_t files) {
  std::string st;
  eventually([&] {
    st = gw.status();
    return st.find("\"loading\":false") != std::string::npos &&
           json_int(st, "loaded").value_or(0) + json_int(st, "load_dropped").value_or(0) == files;
  });
  return st;
}

}  // namespace

// ------------------------------------------------------------------ restarts and damaged files

TEST_CASE("cache: a restarted gateway serves the entries on disk without asking the instance") {
  TempDir dir;
  SampleService svc(dir);
  const auto yaml = config(dir, svc);
  // Keys hold the Host: a fixed one, as in production, not 127.0.0.1 with
  // each run's ephemeral port.
  const std::vector<std::string> host = {"Host: cache.test"};
  const std::string path = "/api/channels/1?cache_control=max-age=300&size=100000";
  std::string body;
  // Each gateway run gets its own directory for its config and logs (the
  // harness reads the listening ports from the log file, which must not
  // hold the previous run's lines); the zone stays in `dir`.
  {
    TempDir run;
    Gateway gw(run, yaml);
    auto r = fill(gw, url(gw.port(), path), host);
    REQUIRE(x_cache(r) == "MISS");
    body = r.body;
    REQUIRE(x_cache(http_get(url(gw.port(), path), host)) == "HIT");  // committed
  }
  TempDir run;
  Gateway gw(run, yaml);
  auto st = wait_loaded(gw, 1);
  INFO(st);
  REQUIRE(st.find("\"loading\":false") != std::string::npos);
  CHECK(json_int(st, "loaded") == 1);
  CHECK(json_int(st, "load_dropped") == 0);
  CHECK(json_int(st, "entries") == 1);
  auto r = http_get(url(gw.port(), path), host);
  CHECK(r.status == 200);
  CHECK(x_cache(r) == "HIT");
  CHECK(r.body == body);
  CHECK(svc.stat("requests") == 1);
}

TEST_CASE("cache: a truncated or corrupted entry file is dropped at start-up, never served") {
  TempDir dir;
  SampleService svc(dir);
  const auto yaml = config(dir, svc);
  const std::vector<std::string> host = {"Host: cache.test"};
  const std::string zone = zone_path(dir);
  constexpr std::size_t kBody = 30000;
  const std::string p1 = "/api/channels/1?cache_control=max-age=300&size=30000";
  const std::string p2 = "/api/channels/2?cache_control=max-age=300&size=30000";
  std::string b1, b2;
  {
    TempDir run;  // per gateway run: see the restart test above
    Gateway gw(run, yaml);
    b1 = fill(gw, url(gw.port(), p1), host).body;
    b2 = fill(gw, url(gw.port(), p2), host).body;
    REQUIRE(x_cache(http_get(url(gw.port(), p1), host)) == "HIT");
    REQUIRE(x_cache(http_get(url(gw.port(), p2), host)) == "HIT");
  }
  REQUIRE(b1.size() == kBody);
  REQUIRE(entry_files(zone).size() == 2);

  // Truncated: half the body gone.
  auto f1 = file_holding(zone, "/api/channels/1?");
  REQUIRE(f1.has_value());
  auto size1 = fs::file_size(*f1);
  fs::resize_file(*f1, size1 - kBody / 2);
  {
    TempDir run;
    Gateway gw(run, yaml);
    auto st = wait_loaded(gw, 2);
    INFO(st);
    REQUIRE(st.find("\"loading\":false") != std::string::npos);
    CHECK(json_int(st, "load_dropped") == 1);
    CHECK(json_int(st, "loaded") == 1);
    CHECK_FALSE(fs::exists(*f1));  // removed
    auto r1 = fill(gw, url(gw.port(), p1), host);
    CHECK(r1.status == 200);
    CHECK(x_cache(r1) == "MISS");
    CHECK(r1.body == b1);
    CHECK(svc.stat("requests") == 3);
    CHECK(x_cache(http_get(url(gw.port(), p2), host)) == "HIT");
    CHECK(x_cache(http_get(url(gw.port(), p1), host)) == "HIT");  // refetched and stored again
    CHECK(svc.stat("requests") == 3);
    CHECK(gw.process().running());
  }

  // Corrupted: one byte flipped in the middle of the body, size unchanged.
  auto f2 = file_holding(zone, "/api/channels/2?");
  REQUIRE(f2.has_value());
  auto size2 = fs::file_size(*f2);
  {
    std::fstream f(*f2, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(size2 - kBody / 2));
    char ch = 0;
    f.get(ch);
    f.seekp(static_cast<std::streamoff>(size2 - kBody / 2));
    f.put(static_cast<char>(ch ^ 0x20));
  }
  REQUIRE(fs::file_size(*f2) == size2);
  {
    TempDir run;
    Gateway gw(run, yaml);
    auto st = wait_loaded(gw, 2);
    INFO(st);
    REQUIRE(st.find("\"loading\":false") != std::string::npos);
    CHECK(json_int(st, "load_dropped") == 1);
    CHECK(json_int(st, "loaded") == 1);
    auto r2 = http_get(url(gw.port(), p2), host);
    CHECK(r2.status == 200);
    CHECK(x_cache(r2) == "MISS");
    CHECK(r2.body == b2);
    CHECK(svc.stat("requests") == 4);
    CHECK(x_cache(http_get(url(gw.port(), p1), host)) == "HIT");
    CHECK(gw.process().running());
  }
}

// ------------------------------------------------------------------ max_size

namespace {
void eviction_keeps_disk_under_max_size(const std::string& policy) {
  TempDir dir;
  SampleService svc(dir);
  Setup s;
  constexpr std::uint64_t kMax = 2 << 20, kBody = 100 << 10;
  s.zone_extra = ", max_size: 2MiB, policy: " + policy;
  Gateway gw(dir, config(dir, svc, s));
  const std::string zone = zone_path(dir);
  // One entry: its body, the stored head and metadata, rounded up to 4 KiB.
  constexpr std::uint64_t kEntrySlack = kBody + 8192;

  std::uint64_t worst = 0;
  for (int i = 0; i < 60; ++i) {
    auto r = fill(gw, url(gw.port(), "/api/channels/" + std::to_string(i) + "?cache_control=max-age=300&size=102400"));
    REQUIRE(r.status == 200);
    REQUIRE(r.body.size() == kBody);
    CHECK(x_cache(r) == "MISS");
    // Evicted files are deleted by the store's background thread.
    std::uint64_t usage = 0;
    bool under = eventually(
        [&] {
          usage = disk_usage(zone);
          return usage <= kMax + kEntrySlack;
        },
        3s);
    worst = std::max(worst, usage);
    INFO("after request " << i << ": " << usage << " bytes on disk");
    CHECK(under);
  }
  INFO("worst disk usage " << worst);
  CHECK(svc.stat("requests") == 60);
  auto m = gw.metrics();
  CHECK(metric(m, "gateway_cache_evictions_total{zone=\"main\"}").value_or(0) > 0);
  CHECK(metric(m, "gateway_cache_bytes{zone=\"main\"}").value_or(kMax + 1) <= kMax);
  auto entries = metric(m, "gateway_cache_entries{zone=\"main\"}").value_or(0);
  CHECK(entries >= 10);  // it still holds most of what fits
  CHECK(entries <= 20);
  CHECK(entries + metric(m, "gateway_cache_evictions_total{zone=\"main\"}").value_or(0) == 60);
  auto st = gw.status();
  CHECK(st.find("\"policy\":\"" + policy + "\"") != std::string::npos);
  CHECK(eventually([&] { return static_cast<double>(entry_files(zone).size()) == entries; }));
  // The most recent key is still there.
  CHECK(x_cache(http_get(url(gw.port(), "/api/channels/59?cache_control=max-age=300&size=102400"))) == "HIT");
}
}  // namespace

TEST_CASE("cache: a workload 3x max_size keeps disk usage under it (LRU)") { eviction_keeps_disk_under_max_size("lru"); }

TEST_CASE("cache: a workload 3x max_size keeps disk usage under it (S3-FIFO)") {
  eviction_keeps_disk_under_max_size("s3fifo");
}
