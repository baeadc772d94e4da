// The store's disk bound (issue 10, item 6) and its bucket layout: files on
// disk never pass max_size plus the fills in flight, however far the
// background thread's deletions fall behind; the backlog is accounted for
// and drains; buckets scale with the zone, and entries written under
// another layout are found at start-up.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cache/store.hpp"
#include "entry_counter.hpp"
#include "temp_dir.hpp"

namespace http = gateway::http;
namespace fs = std::filesystem;
using namespace gateway::cache;

namespace {

constexpr std::uint64_t kBlock = 4096;
std::uint64_t blocks(std::uint64_t n) { return (n + kBlock - 1) / kBlock * kBlock; }

Seconds now() { return static_cast<Seconds>(std::time(nullptr)); }

EntryMeta meta_for(const std::string& path) {
  http::Request req;
  req.method = "GET";
  req.target = path;
  req.headers.add("Host", "example.com");
  EntryMeta m;
  m.key = cache_key(req, RuleConfig{});
  m.vary_key = vary_key(VarySpec{{}, false}, req);
  m.status = 200;
  m.request_time = m.response_time = now();
  m.freshness.lifetime = 600;
  m.head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n";
  return m;
}

// One fill of `size` bytes; null if not stored.
std::shared_ptr<const Entry> fill(Store& store, const std::string& path, std::size_t size) {
  auto w = store.begin(meta_for(path));
  if (!w) return nullptr;
  std::string body(size, 'x');
  if (!w->write(std::string_view(body).substr(0, size / 2)) || !w->write(std::string_view(body).substr(size / 2)))
    return nullptr;
  return w->commit(size);
}

struct Usage {
  std::uint64_t entries = 0;  // entry files (bucket directories), in 4 KiB blocks
  std::uint64_t tmp = 0;      // temporary files of fills in flight
  std::size_t entry_files = 0;
};

Usage usage(const std::string& root) {
  Usage u;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    std::error_code fec;
    if (!it->is_regular_file(fec)) continue;
    auto size = it->file_size(fec);
    if (fec) continue;  // deleted while we walked
    if (it->path().parent_path().filename() == "tmp") {
      u.tmp += blocks(size);
    } else {
      u.entries += blocks(size);
      u.entry_files++;
    }
  }
  return u;
}

bool eventually(const std::function<bool()>& pred) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// Directories between the zone and an entry file.
long depth(const std::string& root, const std::string& file) {
  auto rel = fs::relative(file, root);
  return std::distance(rel.begin(), rel.end()) - 1;
}

std::set<std::string> bucket_dirs(const std::string& root) {
  std::set<std::string> out;
  for (const auto& d : fs::recursive_directory_iterator(root))
    if (d.is_directory() && d.path().filename() != "tmp") out.insert(fs::relative(d.path(), root).string());
  return out;
}

}  // namespace

TEST_CASE("store: the disk-backlog rule refuses a fill only while files wait for deletion and the disk is full") {
  constexpr std::uint64_t kMax = 1 << 20;
  struct Row {
    std::uint64_t disk, writing, backlog_files;
    bool refused;
  };
  const Row rows[] = {
      {0, 0, 0, false},
      {kMax, 0, 0, false},             // full, nothing waiting: eviction at commit makes room
      {kMax + 4096, 4096, 0, false},   // past it (start-up), nothing waiting: the same
      {kMax - 8192, 4096, 3, false},   // files wait, but there is room
      {kMax - 8192, 8192, 3, true},    // with the fills in flight, at max_size
      {kMax, 0, 1, true},
      {kMax - 1, 0, 1, false},
  };
  for (const auto& r : rows) {
    CAPTURE(r.disk);
    CAPTURE(r.writing);
    CAPTURE(r.backlog_files);
    CHECK(refuse_for_backlog(r.disk, r.writing, r.backlog_files, kMax) == r.refused);
  }
}

// Eight threads fill unique keys as fast as they can on a machine with two
// cores: the one background thread that deletes evicted files gets a small
// share of the CPU and falls behind. Before the bound, the files waiting
// for it took the zone to several times max_size.
TEST_CASE("store: concurrent fills keep the files on disk within max_size plus the fills in flight") {
  testing::TempDir dir;
  StoreOptions o;
  o.path = dir.path();
  o.max_size = 512 << 10;
  o.memory = 0;
  Store store(o);
  store.start();
  store.wait_loaded();

  constexpr int kThreads = 8;
  constexpr std::size_t kBody = 6000;
  const std::uint64_t one = blocks(FileHeader::kSize + encode_meta(meta_for("/t/0-0")).size() + kBody + 16);
  // Every entry has the same size, so a count of files bounds the bytes.
  REQUIRE(eventually([&] { return std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()) == 17; }));
  testing::EntryCounter counter(dir.path());
  REQUIRE(counter.dirs() == 16);
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> stored{0}, refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; !stop.load(std::memory_order_relaxed); ++i)
        (fill(store, "/t/" + std::to_string(t) + "-" + std::to_string(i), kBody) ? stored : refused)++;
    });
  std::uint64_t peak_tmp = 0;
  bool exact = true;
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
  while (std::chrono::steady_clock::now() < until) {
    exact = counter.poll() && exact;
    peak_tmp = std::max(peak_tmp, usage(dir.path()).tmp);
  }
  stop = true;
  for (auto& t : threads) t.join();
  exact = counter.poll() && exact;

  INFO("stored " << stored << ", refused " << refused << ", evictions " << store.stats().evictions
                 << ", deleted by commits " << store.stats().inline_unlinks);
  INFO("peak entry files " << counter.peak() << " x " << one << ", peak tmp " << peak_tmp << ", max_size "
                           << o.max_size);
  REQUIRE(store.stats().evictions > 100);
  REQUIRE(exact);
  // Committed files and those waiting for deletion: max_size, plus the
  // fills in flight, up to two files each: a fill admitted while the disk
  // was under max_size commits past it, and a commit publishes its file
  // before it deletes what it evicted. Measured: 73 or 74 files for 64 +
  // 8 threads; before the bound, several times max_size.
  CHECK(counter.peak() * one <= o.max_size + 2 * kThreads * one);
  // The fills in flight: one temporary file per thread (tmp/ alone is
  // walked: a file renamed out of it is only missed).
  CHECK(peak_tmp <= kThreads * one);

  // Quiet: the backlog drains and the accounting matches the disk.
  REQUIRE(eventually([&] { return store.stats().backlog_files == 0; }));
  CHECK(store.stats().backlog_bytes == 0);
  CHECK(store.stats().writing == 0);
  CHECK(store.stats().writing_bytes == 0);
  CHECK(store.stats().disk_bytes == store.stats().bytes);
  auto u = usage(dir.path());
  CHECK(u.entries == store.stats().disk_bytes);
  CHECK(u.entry_files == store.stats().entries);
  CHECK(store.stats().bytes <= o.max_size);
}

TEST_CASE("store: the deletion backlog and the fills in flight are counted until they are gone") {
  testing::TempDir dir;
  StoreOptions o;
  o.path = dir.path();
  o.max_size = 64 << 10;
  o.memory = 0;
  Store store(o);  // not started: deletions happen at once, on the caller's thread
  auto w = store.begin(meta_for("/w"));
  REQUIRE(w);
  CHECK(store.stats().writing == 1);
  const auto head = store.stats().writing_bytes.load();
  CHECK(head > 0);
  REQUIRE(w->write(std::string(5000, 'a')));
  CHECK(store.stats().writing_bytes == head + 5000);
  auto e = w->commit(5000);
  REQUIRE(e);
  CHECK(store.stats().writing == 0);
  CHECK(store.stats().writing_bytes == 0);
  CHECK(store.stats().disk_bytes == e->charged);
  { auto aborted = store.begin(meta_for("/aborted")); }
  CHECK(store.stats().writing == 0);
  CHECK(store.stats().writing_bytes == 0);
  for (int i = 0; i < 20; ++i) REQUIRE(fill(store, "/f/" + std::to_string(i), 5000));
  CHECK(store.stats().evictions > 0);
  CHECK(store.stats().disk_bytes == store.stats().bytes);
  CHECK(usage(dir.path()).entries == store.stats().disk_bytes);
  store.purge_url(url_key("example.com", "/f/19", RuleConfig{}));
  CHECK(store.stats().disk_bytes == store.stats().bytes);
  CHECK(usage(dir.path()).entries == store.stats().disk_bytes);
}

TEST_CASE("store: bucket directories scale with max_size") {
  struct Row {
    std::uint64_t max_size;
    std::size_t dirs;  // bucket directories, both levels
    int depth;         // directories between the zone and an entry file
  };
  const Row rows[] = {
      {4ull << 20, 16, 1},
      {63ull << 20, 16, 1},
      {64ull << 20, 16 + 16 * 16, 2},
      {512ull << 20, 16 + 16 * 16, 2},
      {1ull << 30, 16 + 16 * 256, 2},
  };
  for (const auto& r : rows) {
    CAPTURE(r.max_size);
    testing::TempDir dir;
    StoreOptions o;
    o.path = dir.path();
    o.max_size = r.max_size;
    Store store(o);
    store.start();
    store.wait_loaded();
    auto e = fill(store, "/bucketed", 100);
    REQUIRE(e);
    CHECK(depth(dir.path(), e->path) == r.depth);
    CHECK(eventually([&] { return bucket_dirs(dir.path()).size() == r.dirs; }));
  }
}

TEST_CASE("store: entries written under the layout of another zone size are found at start-up and served") {
  testing::TempDir dir;
  StoreOptions big;
  big.path = dir.path();
  big.max_size = 2ull << 30;  // 16 x 256 buckets
  std::vector<std::string> paths;
  {
    Store store(big);
    for (int i = 0; i < 10; ++i) {
      auto e = fill(store, "/old/" + std::to_string(i), 1000 + i);
      REQUIRE(e);
      paths.push_back(e->path);
    }
  }
  StoreOptions small = big;
  small.max_size = 4ull << 20;  // 16 buckets, one level
  Store store(small);
  store.start();
  store.wait_loaded();
  CHECK(store.stats().loaded == 10);
  CHECK(store.stats().load_dropped == 0);
  for (int i = 0; i < 10; ++i) {
    http::Request req;
    req.method = "GET";
    req.target = "/old/" + std::to_string(i);
    req.headers.add("Host", "example.com");
    auto e = store.lookup(cache_key(req, RuleConfig{}), req, now());
    REQUIRE(e);
    CHECK(e->path == paths[static_cast<std::size_t>(i)]);
    CHECK(depth(dir.path(), e->path) == 2);
    CHECK(e->meta.body_size == static_cast<std::uint64_t>(1000 + i));
    CHECK(store.open(*e));
  }
  // New fills go to the new layout; replacing an old entry deletes its file.
  auto e = fill(store, "/old/0", 10);
  REQUIRE(e);
  CHECK(depth(dir.path(), e->path) == 1);
  CHECK(eventually([&] { return !fs::exists(paths[0]); }));
}
