// The store conformance suite's configurations and helpers, shared by the
// tests/unit/cache/store_*_test.cpp files: the five store configurations
// every TEST_CASE_TEMPLATE runs over (STORE_CONFIGS), requests and entry
// metadata, writing and reading bodies, looking at the files on disk, and
// Harness, a store in a fresh temporary directory that can be restarted.
//
// Deletions and rewrites happen on the store's background thread once it is
// started (inline otherwise), so checks of the disk poll with a bounded loop
// (`eventually`) instead of sleeping a fixed time.
#pragma once

#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "cache/policy.hpp"
#include "cache/store.hpp"
#include "meta_check.hpp"
#include "temp_dir.hpp"

namespace gateway::cache::testing {

// ---------------------------------------------------------------- configurations

constexpr std::uint64_t kRam = 4ull << 20;

struct LruRam {
  static constexpr PolicyKind policy = PolicyKind::lru;
  static constexpr std::uint64_t memory = kRam;
  static constexpr bool started = false;
};
struct S3FifoRam {
  static constexpr PolicyKind policy = PolicyKind::s3fifo;
  static constexpr std::uint64_t memory = kRam;
  static constexpr bool started = false;
};
struct S3FifoDisk {
  static constexpr PolicyKind policy = PolicyKind::s3fifo;
  static constexpr std::uint64_t memory = 0;
  static constexpr bool started = false;
};
// With the background thread: deletions and persists become asynchronous.
struct LruRamStarted {
  static constexpr PolicyKind policy = PolicyKind::lru;
  static constexpr std::uint64_t memory = kRam;
  static constexpr bool started = true;
};
struct S3FifoDiskStarted {
  static constexpr PolicyKind policy = PolicyKind::s3fifo;
  static constexpr std::uint64_t memory = 0;
  static constexpr bool started = true;
};

}  // namespace gateway::cache::testing

// The type names stay as they were before the configurations moved into
// gateway::cache::testing: they are part of every CTest test name.
TYPE_TO_STRING_AS("LruRam", gateway::cache::testing::LruRam);
TYPE_TO_STRING_AS("S3FifoRam", gateway::cache::testing::S3FifoRam);
TYPE_TO_STRING_AS("S3FifoDisk", gateway::cache::testing::S3FifoDisk);
TYPE_TO_STRING_AS("LruRamStarted", gateway::cache::testing::LruRamStarted);
TYPE_TO_STRING_AS("S3FifoDiskStarted", gateway::cache::testing::S3FifoDiskStarted);

#define STORE_CONFIGS                                                                                      \
  gateway::cache::testing::LruRam, gateway::cache::testing::S3FifoRam, gateway::cache::testing::S3FifoDisk, \
      gateway::cache::testing::LruRamStarted, gateway::cache::testing::S3FifoDiskStarted

namespace gateway::cache::testing {

using Fields = std::vector<std::pair<std::string, std::string>>;

// The store stamps commits and sweeps `inactive` entries with its own wall
// clock, so lookups pass the real time too: a fake `now` would make a
// started store sweep the entries a lookup touched.
inline Seconds now() { return static_cast<Seconds>(std::time(nullptr)); }

// Polls `pred` for up to `limit`: for work the background thread finishes
// soon.
inline bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// Sum of the sizes of the files under `root`, by walking the directory.
inline std::uint64_t disk_usage(const std::string& root) {
  std::uint64_t total = 0;
  std::error_code ec;
  for (const auto& f : std::filesystem::recursive_directory_iterator(root, ec))
    if (f.is_regular_file(ec)) total += f.file_size(ec);
  return total;
}

// Entry files: every regular file except those under tmp/.
inline std::vector<std::string> entry_files(const std::string& root) {
  std::vector<std::string> out;
  std::error_code ec;
  namespace fs = std::filesystem;
  for (auto it = fs::recursive_directory_iterator(root, ec); it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    if (it->is_directory() && it->path().filename() == "tmp" && it->path().parent_path() == fs::path(root)) {
      it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file()) out.push_back(it->path().string());
  }
  return out;
}

// Temporary files holding a fill's bytes. The store keeps a few empty ones
// ready for the next fills; begin() writes the head at once, so a writer's
// file is never empty.
inline std::size_t tmp_files(const std::string& root) {
  std::size_t n = 0;
  std::error_code ec;
  for (const auto& f : std::filesystem::directory_iterator(std::filesystem::path(root) / "tmp", ec))
    if (f.file_size(ec) > 0) ++n;
  return n;
}

inline bool exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

inline http::Request get(std::string host, std::string target, const Fields& fields = {}) {
  http::Request r;
  r.method = "GET";
  r.target = std::move(target);
  r.headers.add("Host", host);
  for (const auto& [name, value] : fields) r.headers.add(name, value);
  return r;
}

inline EntryMeta make_meta(const http::Request& req, std::vector<std::string> vary_fields = {},
                           std::vector<std::string> tags = {}, const RuleConfig& rule = {}) {
  EntryMeta m;
  m.key = cache_key(req, rule);
  m.vary_fields = std::move(vary_fields);
  m.vary_key = vary_key(VarySpec{m.vary_fields, false}, req);
  m.status = 200;
  m.request_time = now() - 2;
  m.response_time = now() - 1;
  m.initial_age = 3;
  m.freshness.lifetime = 600;
  m.freshness.stale_while_revalidate = 10;
  m.freshness.stale_if_error = 20;
  m.validators.etag = "\"v1\"";
  m.validators.last_modified = 1'600'000'000;
  m.tags = std::move(tags);
  m.head = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nETag: \"v1\"\r\n";
  return m;
}

inline std::string make_body(std::size_t n, std::uint32_t seed) {
  std::string s(n, '\0');
  std::mt19937 rng(seed);
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

// Writes `body` in pieces of growing, uneven sizes, then commits with the
// exact size.
inline std::shared_ptr<const Entry> put(Store& store, EntryMeta meta, std::string_view body) {
  auto w = store.begin(std::move(meta));
  REQUIRE(w);
  std::size_t piece = 1;
  for (std::size_t off = 0; off < body.size();) {
    auto n = std::min(piece, body.size() - off);
    REQUIRE(w->write(body.substr(off, n)));
    off += n;
    piece = piece * 3 + 7;
  }
  CHECK(w->written() == body.size());
  return w->commit(body.size());
}

inline std::optional<std::string> read_at(int fd, std::uint64_t offset, std::uint64_t n) {
  std::string s(n, '\0');
  std::uint64_t got = 0;
  while (got < n) {
    auto r = ::pread(fd, s.data() + got, n - got, static_cast<off_t>(offset + got));
    if (r <= 0) return std::nullopt;
    got += static_cast<std::uint64_t>(r);
  }
  return s;
}

// The body through the store's open-file cache.
inline std::optional<std::string> file_body(Store& store, const Entry& e) {
  auto f = store.open(e);
  if (!f) return std::nullopt;
  return read_at(f->fd, e.body_offset, e.meta.body_size);
}

// The body read from e.path directly (bypassing the open-file cache).
inline std::optional<std::string> path_body(const Entry& e) {
  int fd = ::open(e.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  auto b = read_at(fd, e.body_offset, e.meta.body_size);
  ::close(fd);
  return b;
}

// What a hit serves: the RAM copy if any, else the file.
inline std::optional<std::string> served_body(Store& store, const Entry& e) {
  if (e.body) return *e.body;
  return file_body(store, e);
}

// Bodies are compared by fingerprint so that a failure prints something
// readable: "none" (not readable), or the size and CRC-32.
inline std::string fp(const std::optional<std::string>& body) {
  if (!body) return "none";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%zu bytes, crc %08x", body->size(), static_cast<unsigned>(crc32(0, *body)));
  return buf;
}
inline std::string fp(const std::string& body) { return fp(std::optional<std::string>(body)); }
inline std::string fp(const char* body) { return fp(std::string(body)); }

inline void check_meta(const EntryMeta& got, const EntryMeta& want) {
  testing::check_same_meta(got, want);
  CHECK(got.body_size == want.body_size);
}

// A store in a fresh directory, per configuration C. `tweak` adjusts the
// options; restart() replaces the store by a new one on the same directory,
// always started and loaded.
template <class C>
class Harness {
 public:
  explicit Harness(std::function<void(StoreOptions&)> tweak = {}) {
    options_.path = dir_.path();
    options_.policy.kind = C::policy;
    options_.memory = C::memory;
    if (tweak) tweak(options_);
    open(C::started);
  }
  Store& store() { return *store_; }
  Store* operator->() { return store_.get(); }
  const std::string& path() const { return dir_.path(); }
  const StoreOptions& options() const { return options_; }

  void restart() {
    store_.reset();
    open(true);
  }
  void close() { store_.reset(); }
  // A new store on the same directory whose loader has not run yet.
  void reopen_unstarted() {
    store_.reset();
    open(false);
  }
  void start() {
    store_->start();
    store_->wait_loaded();
  }

  std::shared_ptr<const Entry> lookup(const http::Request& req, const RuleConfig& rule = {}) {
    return store_->lookup(cache_key(req, rule), req, now());
  }

  // The disk matches the index once pending deletions are done.
  bool settled() { return entry_files(path()).size() == store_->stats().entries.load(); }

 private:
  void open(bool start) {
    store_ = std::make_unique<Store>(options_);
    if (start) {
      store_->start();
      store_->wait_loaded();
    }
  }

  TempDir dir_;
  StoreOptions options_;
  std::unique_ptr<Store> store_;
};

}  // namespace gateway::cache::testing
