// Conformance suite for cache/store: every case runs over each store
// configuration (eviction policy, RAM tier on or off, background thread
// started or not), Envoy's http_cache_implementation_test_common style.
// Each case gets a fresh temporary directory, removed afterwards.
//
// Deletions and rewrites happen on the store's background thread once it is
// started (inline otherwise), so checks of the disk poll with a bounded loop
// (`eventually`) instead of sleeping a fixed time.
#include "cache/store.hpp"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "cache/policy.hpp"
#include "meta_check.hpp"
#include "temp_dir.hpp"

namespace http = gateway::http;
namespace fs = std::filesystem;
using gateway::cache::RuleConfig;
using namespace gateway::cache;

// ---------------------------------------------------------------- configurations

namespace {

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

}  // namespace

TYPE_TO_STRING(LruRam);
TYPE_TO_STRING(S3FifoRam);
TYPE_TO_STRING(S3FifoDisk);
TYPE_TO_STRING(LruRamStarted);
TYPE_TO_STRING(S3FifoDiskStarted);

#define STORE_CONFIGS LruRam, S3FifoRam, S3FifoDisk, LruRamStarted, S3FifoDiskStarted

// ---------------------------------------------------------------- helpers

namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

// The store stamps commits and sweeps `inactive` entries with its own wall
// clock, so lookups pass the real time too: a fake `now` would make a
// started store sweep the entries a lookup touched.
Seconds now() { return static_cast<Seconds>(std::time(nullptr)); }

using testing::TempDir;

// Polls `pred` for up to `limit`: for work the background thread finishes
// soon.
bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// Sum of the sizes of the files under `root`, by walking the directory.
std::uint64_t disk_usage(const std::string& root) {
  std::uint64_t total = 0;
  std::error_code ec;
  for (const auto& f : fs::recursive_directory_iterator(root, ec))
    if (f.is_regular_file(ec)) total += f.file_size(ec);
  return total;
}

// Entry files: every regular file except those under tmp/.
std::vector<std::string> entry_files(const std::string& root) {
  std::vector<std::string> out;
  std::error_code ec;
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
std::size_t tmp_files(const std::string& root) {
  std::size_t n = 0;
  std::error_code ec;
  for (const auto& f : fs::directory_iterator(fs::path(root) / "tmp", ec))
    if (f.file_size(ec) > 0) ++n;
  return n;
}

bool exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

http::Request get(std::string host, std::string target, const Fields& fields = {}) {
  http::Request r;
  r.method = "GET";
  r.target = std::move(target);
  r.headers.add("Host", host);
  for (const auto& [name, value] : fields) r.headers.add(name, value);
  return r;
}

EntryMeta make_meta(const http::Request& req, std::vector<std::string> vary_fields = {},
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

std::string make_body(std::size_t n, std::uint32_t seed) {
  std::string s(n, '\0');
  std::mt19937 rng(seed);
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

// Writes `body` in pieces of growing, uneven sizes, then commits with the
// exact size.
std::shared_ptr<const Entry> put(Store& store, EntryMeta meta, std::string_view body) {
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

std::optional<std::string> read_at(int fd, std::uint64_t offset, std::uint64_t n) {
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
std::optional<std::string> file_body(Store& store, const Entry& e) {
  auto f = store.open(e);
  if (!f) return std::nullopt;
  return read_at(f->fd, e.body_offset, e.meta.body_size);
}

// The body read from e.path directly (bypassing the open-file cache).
std::optional<std::string> path_body(const Entry& e) {
  int fd = ::open(e.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  auto b = read_at(fd, e.body_offset, e.meta.body_size);
  ::close(fd);
  return b;
}

// What a hit serves: the RAM copy if any, else the file.
std::optional<std::string> served_body(Store& store, const Entry& e) {
  if (e.body) return *e.body;
  return file_body(store, e);
}

// Bodies are compared by fingerprint so that a failure prints something
// readable: "none" (not readable), or the size and CRC-32.
std::string fp(const std::optional<std::string>& body) {
  if (!body) return "none";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%zu bytes, crc %08x", body->size(), static_cast<unsigned>(crc32(0, *body)));
  return buf;
}
std::string fp(const std::string& body) { return fp(std::optional<std::string>(body)); }
std::string fp(const char* body) { return fp(std::string(body)); }

void check_meta(const EntryMeta& got, const EntryMeta& want) {
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
    options_.policy = C::policy;
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

}  // namespace

// ---------------------------------------------------------------- put / lookup

TEST_CASE_TEMPLATE("store: put then lookup returns the same meta and body", C, STORE_CONFIGS) {
  Harness<C> h;
  auto& store = h.store();
  // 65 536 is exactly memory_entry_max; the two larger ones are file only.
  const std::vector<std::size_t> sizes = {0, 1, 100, 4096, 65'536, 70'000, 300'000};
  std::uint64_t charged = 0;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    CAPTURE(sizes[i]);
    auto req = get("example.com", "/put/" + std::to_string(i));
    auto meta = make_meta(req, {}, {"t" + std::to_string(i)});
    const auto body = make_body(sizes[i], static_cast<std::uint32_t>(i));
    auto committed = put(store, meta, body);
    REQUIRE(committed);
    meta.body_size = body.size();
    check_meta(committed->meta, meta);

    auto e = h.lookup(req);
    REQUIRE(e);
    CHECK(e == committed);
    check_meta(e->meta, meta);
    CHECK(e->id == entry_id(meta.key, meta.vary_key));
    CHECK(e->body_offset == FileHeader::kSize + encode_meta(meta).size());
    CHECK(exists(e->path));
    CHECK(fs::file_size(e->path) == e->body_offset + body.size());
    CHECK(e->charged % 4096 == 0);
    CHECK(e->charged >= e->body_offset + body.size());
    charged += e->charged;

    const bool in_ram = C::memory > 0 && body.size() <= h.options().memory_entry_max;
    CHECK(static_cast<bool>(e->body) == in_ram);
    if (e->body) CHECK(*e->body == body);
    auto from_file = file_body(store, *e);
    REQUIRE(from_file);
    CHECK(*from_file == body);
    CHECK(fp(served_body(store, *e)) == fp(body));
  }
  CHECK(store.stats().entries == sizes.size());
  CHECK(store.stats().stores == sizes.size());
  CHECK(store.stats().bytes == charged);
  CHECK(tmp_files(h.path()) == 0);
  CHECK(entry_files(h.path()).size() == sizes.size());
}

TEST_CASE_TEMPLATE("store: lookup of an unknown key is a miss", C, STORE_CONFIGS) {
  Harness<C> h;
  CHECK_FALSE(h.lookup(get("example.com", "/a")));
  REQUIRE(put(h.store(), make_meta(get("example.com", "/a")), "body"));
  CHECK(h.lookup(get("example.com", "/a")));
  CHECK_FALSE(h.lookup(get("example.com", "/b")));
  CHECK_FALSE(h.lookup(get("example.com", "/a?x=1")));
  CHECK_FALSE(h.lookup(get("other.com", "/a")));
  CHECK_FALSE(h.store().lookup("", get("example.com", "/a"), now()));
  CHECK_FALSE(h.store().lookup("GET", get("example.com", "/a"), now()));
}

TEST_CASE_TEMPLATE("store: commit with a wrong expected size publishes nothing", C, STORE_CONFIGS) {
  Harness<C> h;
  auto& store = h.store();
  auto req = get("example.com", "/short");
  for (std::uint64_t expected : {0ull, 99ull, 101ull, 1ull << 40}) {
    CAPTURE(expected);
    auto w = store.begin(make_meta(req));
    REQUIRE(w);
    REQUIRE(w->write(std::string(100, 'x')));
    CHECK_FALSE(w->commit(expected));
    CHECK_FALSE(w->commit(100));  // once failed, never published
    CHECK_FALSE(w->write("more"));
  }
  CHECK_FALSE(h.lookup(req));
  CHECK(store.stats().entries == 0);
  CHECK(store.stats().bytes == 0);
  CHECK(store.stats().stores == 0);
  CHECK(tmp_files(h.path()) == 0);
  CHECK(entry_files(h.path()).empty());
  CHECK(disk_usage(h.path()) == 0);
}

TEST_CASE_TEMPLATE("store: an aborted or abandoned writer leaves nothing", C, STORE_CONFIGS) {
  Harness<C> h;
  auto& store = h.store();
  auto req = get("example.com", "/aborted");
  const auto body = make_body(10'000, 7);

  SUBCASE("abort") {
    auto w = store.begin(make_meta(req));
    REQUIRE(w);
    REQUIRE(w->write(body));
    CHECK(tmp_files(h.path()) == 1);
    auto reader = w->reader();
    w->abort();
    CHECK(tmp_files(h.path()) == 0);
    CHECK_FALSE(w->write("x"));
    CHECK_FALSE(w->commit());
    // A follower still reading the fill keeps a valid descriptor.
    REQUIRE(reader);
    CHECK(fp(read_at(reader->fd, w->body_offset(), body.size())) == fp(body));
  }
  SUBCASE("destroyed uncommitted") {
    {
      auto w = store.begin(make_meta(req));
      REQUIRE(w);
      REQUIRE(w->write(body));
    }
    CHECK(tmp_files(h.path()) == 0);
  }
  SUBCASE("destroyed without any write") {
    { auto w = store.begin(make_meta(req)); }
    CHECK(tmp_files(h.path()) == 0);
  }
  CHECK_FALSE(h.lookup(req));
  CHECK(store.stats().entries == 0);
  CHECK(store.stats().bytes == 0);
  CHECK(store.stats().memory_bytes == 0);
  CHECK(entry_files(h.path()).empty());
  CHECK(disk_usage(h.path()) == 0);
}

// File creation and mkdir are the background thread's: it keeps empty
// temporary files ready and makes the 16 x 256 bucket directories. A fill
// takes a ready file, and still lands if its bucket has gone.
TEST_CASE("store: fills take ready temporary files, a missing bucket is made again, spares go with the store") {
  Harness<LruRamStarted> h;
  auto spares = [&] {
    std::set<std::string> out;
    std::error_code ec;
    for (const auto& f : fs::directory_iterator(fs::path(h.path()) / "tmp", ec))
      if (f.file_size(ec) == 0) out.insert(f.path().string());
    return out;
  };
  auto buckets = [&] {
    std::size_t n = 0;
    std::error_code ec;
    for (const auto& top : fs::directory_iterator(h.path(), ec))
      if (top.path().filename() != "tmp")
        for (const auto& d : fs::directory_iterator(top.path(), ec)) n += d.is_directory(ec) ? 1 : 0;
    return n;
  };
  REQUIRE(eventually([&] { return buckets() == 16 * 256; }));
  const auto before = spares();
  REQUIRE(before.size() > 1);

  auto first = put(h.store(), make_meta(get("example.com", "/spare")), make_body(2000, 1));
  REQUIRE(first);
  auto after = spares();
  std::vector<std::string> taken;
  std::set_difference(before.begin(), before.end(), after.begin(), after.end(), std::back_inserter(taken));
  CHECK(taken.size() == 1);
  CHECK(fs::exists(first->path));
  CHECK(fs::path(first->path).parent_path().parent_path().parent_path() == fs::path(h.path()));

  // Someone removed the buckets: the next fill makes its own again.
  for (const auto& top : fs::directory_iterator(h.path()))
    if (top.path().filename() != "tmp") fs::remove_all(top.path());
  auto second = put(h.store(), make_meta(get("example.com", "/rebucketed")), make_body(2000, 2));
  REQUIRE(second);
  CHECK(fs::exists(second->path));
  CHECK(h.store().stats().write_errors == 0);
  auto e = h.lookup(get("example.com", "/rebucketed"));
  REQUIRE(e);
  CHECK(fp(file_body(h.store(), *e)) == fp(make_body(2000, 2)));

  h.close();
  CHECK(fs::is_empty(fs::path(h.path()) / "tmp"));
}

TEST_CASE_TEMPLATE("store: temporary files left by a crash are removed when the store opens", C, STORE_CONFIGS) {
  TempDir dir;
  fs::create_directories(fs::path(dir.path()) / "tmp");
  std::ofstream(fs::path(dir.path()) / "tmp" / "123.tmp") << "half a fill";
  StoreOptions o;
  o.path = dir.path();
  o.policy = C::policy;
  o.memory = C::memory;
  Store store(o);
  CHECK(tmp_files(dir.path()) == 0);
}

// ---------------------------------------------------------------- Vary

TEST_CASE_TEMPLATE("store: Vary variants are each served to the matching request only", C, STORE_CONFIGS) {
  Harness<C> h;
  auto& store = h.store();
  const std::vector<std::string> vary = {"accept-language"};
  auto en = get("example.com", "/v", {{"Accept-Language", "en"}});
  auto fr = get("example.com", "/v", {{"Accept-Language", "fr"}});
  auto de = get("example.com", "/v", {{"Accept-Language", "de"}});
  auto none = get("example.com", "/v");
  auto empty = get("example.com", "/v", {{"Accept-Language", ""}});
  REQUIRE(cache_key(en, {}) == cache_key(fr, {}));
  REQUIRE(vary_key(VarySpec{vary, false}, en) != vary_key(VarySpec{vary, false}, fr));

  REQUIRE(put(store, make_meta(en, vary), "english"));
  REQUIRE(put(store, make_meta(fr, vary), "french"));
  CHECK(store.stats().entries == 2);

  auto e = h.lookup(en);
  REQUIRE(e);
  CHECK(fp(served_body(store, *e)) == fp("english"));
  CHECK(e->meta.vary_key == vary_key(VarySpec{vary, false}, en));
  auto f = h.lookup(fr);
  REQUIRE(f);
  CHECK(fp(served_body(store, *f)) == fp("french"));
  CHECK(e->id != f->id);
  CHECK(e->path != f->path);
  // Equivalent field values match (whitespace around list commas).
  CHECK(h.lookup(get("example.com", "/v", {{"Accept-Language", " en "}})) == e);
  CHECK_FALSE(h.lookup(de));
  CHECK_FALSE(h.lookup(none));
  CHECK_FALSE(h.lookup(empty));

  // A variant for the request without the field matches only that request.
  REQUIRE(put(store, make_meta(none, vary), "no language"));
  auto n = h.lookup(none);
  REQUIRE(n);
  CHECK(fp(served_body(store, *n)) == fp("no language"));
  CHECK_FALSE(h.lookup(empty));
  CHECK_FALSE(h.lookup(de));
  CHECK(fp(served_body(store, *h.lookup(en))) == fp("english"));
  CHECK(store.stats().entries == 3);
}

TEST_CASE_TEMPLATE("store: replacing a variant serves the new body and deletes the old file", C, STORE_CONFIGS) {
  Harness<C> h;
  auto& store = h.store();
  const std::vector<std::string> vary = {"accept-language"};
  auto en = get("example.com", "/r", {{"Accept-Language", "en"}});
  auto fr = get("example.com", "/r", {{"Accept-Language", "fr"}});
  const auto big_old = make_body(100'000, 1), big_new = make_body(3'000, 2);

  auto old_en = put(store, make_meta(en, vary), big_old);
  auto kept_fr = put(store, make_meta(fr, vary), "french");
  REQUIRE(old_en);
  REQUIRE(kept_fr);
  auto meta2 = make_meta(en, vary);
  meta2.head += "X-Version: 2\r\n";
  auto new_en = put(store, meta2, big_new);
  REQUIRE(new_en);
  CHECK(new_en->id == old_en->id);
  CHECK(new_en->path != old_en->path);

  auto e = h.lookup(en);
  REQUIRE(e);
  CHECK(e == new_en);
  CHECK(e->meta.head == meta2.head);
  CHECK(fp(served_body(store, *e)) == fp(big_new));
  CHECK(fp(file_body(store, *e)) == fp(big_new));
  CHECK(fp(served_body(store, *h.lookup(fr))) == fp("french"));
  CHECK(store.stats().entries == 2);
  CHECK(store.stats().bytes == new_en->charged + kept_fr->charged);
  CHECK(store.stats().memory_bytes == (C::memory ? big_new.size() + 6 : 0));
  CHECK(eventually([&] { return !exists(old_en->path); }));
  CHECK(exists(new_en->path));
  CHECK(exists(kept_fr->path));
  CHECK(eventually([&] { return h.settled(); }));
}

// ---------------------------------------------------------------- purge

TEST_CASE_TEMPLATE("store: purge_url removes every variant and extra key part of one URL", C, STORE_CONFIGS) {
  Harness<C> h;
  auto& store = h.store();
  RuleConfig rule;
  rule.key_headers = {"x-device"};
  const std::vector<std::string> vary = {"accept-language"};
  struct Item {
    http::Request req;
    bool purged;
  };
  std::vector<Item> items = {
      {get("example.com", "/a", {{"X-Device", "mobile"}, {"Accept-Language", "en"}}), true},
      {get("example.com", "/a", {{"X-Device", "mobile"}, {"Accept-Language", "fr"}}), true},
      {get("example.com", "/a", {{"X-Device", "desktop"}, {"Accept-Language", "en"}}), true},
      {get("example.com", "/a", {{"Accept-Language", "en"}}), true},
      {get("example.com", "/a?x=1", {{"Accept-Language", "en"}}), false},
      {get("example.com", "/ab", {{"Accept-Language", "en"}}), false},
      {get("example.com", "/a/b", {{"Accept-Language", "en"}}), false},
      {get("other.com", "/a", {{"Accept-Language", "en"}}), false},
  };
  std::vector<std::shared_ptr<const Entry>> entries;
  for (std::size_t i = 0; i < items.size(); ++i) {
    auto e = put(store, make_meta(items[i].req, vary, {}, rule), "body " + std::to_string(i));
    REQUIRE(e);
    entries.push_back(e);
  }
  REQUIRE(store.stats().entries == items.size());

  CHECK(store.purge_url(url_key("example.com", "/a", rule)) == 4);
  CHECK(store.stats().purged == 4);
  CHECK(store.stats().entries == 4);
  std::uint64_t bytes = 0;
  for (std::size_t i = 0; i < items.size(); ++i) {
    CAPTURE(i);
    auto e = h.lookup(items[i].req, rule);
    CHECK(static_cast<bool>(e) == !items[i].purged);
    if (items[i].purged) {
      CHECK(eventually([&] { return !exists(entries[i]->path); }));
    } else {
      CHECK(exists(entries[i]->path));
      bytes += entries[i]->charged;
    }
  }
  CHECK(store.stats().bytes == bytes);
  CHECK(store.purge_url(url_key("example.com", "/a", rule)) == 0);
  CHECK(store.purge_url(url_key("example.com", "/nothing", rule)) == 0);
  CHECK(eventually([&] { return h.settled(); }));
}

TEST_CASE_TEMPLATE("store: purge_prefix by host, any host and exact", C, STORE_CONFIGS) {
  Harness<C> h;
  auto& store = h.store();
  const std::vector<http::Request> reqs = {
      get("example.com", "/img/a.png"),    // 0
      get("example.com", "/img/b.png?v=1"),  // 1
      get("example.com", "/imgx"),         // 2
      get("example.com", "/css/a.css"),    // 3
      get("other.com", "/img/a.png"),      // 4
      get("other.com", "/"),               // 5
  };
  std::vector<std::shared_ptr<const Entry>> entries;
  for (std::size_t i = 0; i < reqs.size(); ++i) {
    auto e = put(store, make_meta(reqs[i]), "body " + std::to_string(i));
    REQUIRE(e);
    entries.push_back(e);
  }
  auto present = [&] {
    std::set<std::size_t> s;
    for (std::size_t i = 0; i < reqs.size(); ++i)
      if (h.lookup(reqs[i])) s.insert(i);
    return s;
  };
  std::set<std::size_t> gone;

  SUBCASE("one host") {
    CHECK(store.purge_prefix("example.com", "/img/") == 2);
    CHECK(present() == std::set<std::size_t>{2, 3, 4, 5});
    gone = {0, 1};
  }
  SUBCASE("any host") {
    CHECK(store.purge_prefix("", "/img/") == 3);
    CHECK(present() == std::set<std::size_t>{2, 3, 5});
    gone = {0, 1, 4};
  }
  SUBCASE("any host, every path") {
    CHECK(store.purge_prefix("", "/") == reqs.size());
    CHECK(present().empty());
    gone = {0, 1, 2, 3, 4, 5};
  }
  SUBCASE("exact") {
    CHECK(store.purge_prefix("example.com", "/img/a.png", true) == 1);
    CHECK(store.purge_prefix("example.com", "/img/b.png", true) == 0);  // the stored target has a query
    CHECK(store.purge_prefix("example.com", "/img/b.png?v=1", true) == 1);
    CHECK(store.purge_prefix("", "/", true) == 1);
    CHECK(present() == std::set<std::size_t>{2, 3, 4});
    gone = {0, 1, 5};
  }
  SUBCASE("no match") {
    CHECK(store.purge_prefix("example.org", "/") == 0);
    CHECK(store.purge_prefix("example.com", "/js/") == 0);
    CHECK(present().size() == reqs.size());
  }
  CHECK(store.stats().entries == reqs.size() - gone.size());
  CHECK(store.stats().purged == gone.size());
  for (auto i : gone) CHECK(eventually([&] { return !exists(entries[i]->path); }));
  CHECK(eventually([&] { return h.settled(); }));
}

TEST_CASE_TEMPLATE("store: purge_tag removes the tagged entries", C, STORE_CONFIGS) {
  Harness<C> h;
  auto& store = h.store();
  const std::vector<std::vector<std::string>> tags = {{"a", "b"}, {"b"}, {"c"}, {}, {"bb"}};
  std::vector<std::shared_ptr<const Entry>> entries;
  for (std::size_t i = 0; i < tags.size(); ++i) {
    auto e = put(store, make_meta(get("example.com", "/t/" + std::to_string(i)), {}, tags[i]), "x");
    REQUIRE(e);
    entries.push_back(e);
  }
  CHECK(store.purge_tag("b") == 2);
  CHECK(store.purge_tag("b") == 0);
  CHECK(store.purge_tag("") == 0);
  CHECK(store.purge_tag("B") == 0);  // tags are compared exactly
  CHECK_FALSE(h.lookup(get("example.com", "/t/0")));
  CHECK_FALSE(h.lookup(get("example.com", "/t/1")));
  for (int i : {2, 3, 4}) CHECK(h.lookup(get("example.com", "/t/" + std::to_string(i))));
  CHECK(store.purge_tag("a") == 0);  // its entry went with "b"
  CHECK(store.purge_tag("c") == 1);
  CHECK(store.stats().entries == 2);
  CHECK(store.stats().purged == 3);
  for (int i : {0, 1, 2}) CHECK(eventually([&] { return !exists(entries[i]->path); }));
  CHECK(eventually([&] { return h.settled(); }));
}

TEST_CASE_TEMPLATE("store: remove() drops one entry and open() then finds no file", C, STORE_CONFIGS) {
  Harness<C> h;
  auto& store = h.store();
  auto a = put(store, make_meta(get("example.com", "/a")), make_body(100'000, 1));
  auto b = put(store, make_meta(get("example.com", "/b")), "b");
  REQUIRE(a);
  REQUIRE(b);
  REQUIRE(store.open(*a));  // cached descriptor
  store.remove(a);
  CHECK_FALSE(h.lookup(get("example.com", "/a")));
  CHECK(h.lookup(get("example.com", "/b")));
  CHECK(store.stats().entries == 1);
  CHECK(store.stats().bytes == b->charged);
  CHECK(eventually([&] { return !exists(a->path); }));
  CHECK_FALSE(store.open(*a));
  store.remove(a);  // twice: harmless
  CHECK(store.stats().entries == 1);
}

// ---------------------------------------------------------------- eviction

TEST_CASE_TEMPLATE("store: eviction keeps the store under max_size", C, STORE_CONFIGS) {
  constexpr std::uint64_t kMax = 64 << 10;
  Harness<C> h([](StoreOptions& o) { o.max_size = kMax; });
  auto& store = h.store();
  std::vector<std::shared_ptr<const Entry>> entries;
  std::uint64_t one = 0;
  for (int i = 0; i < 40; ++i) {
    CAPTURE(i);
    auto e = put(store, make_meta(get("example.com", "/e/" + std::to_string(i))), make_body(8 << 10, i));
    REQUIRE(e);
    one = std::max(one, e->charged);
    entries.push_back(e);
    CHECK(store.stats().bytes <= kMax);
    CHECK(store.stats().memory_bytes <= store.options().memory);
  }
  REQUIRE(one == 12 << 10);  // 8 KiB body + header and meta, in 4 KiB blocks
  CHECK(store.stats().entries == kMax / one);
  CHECK(store.stats().evictions == 40 - store.stats().entries);
  // The newest entries survive (no hits: both policies are FIFO here).
  std::size_t found = 0;
  for (int i = 0; i < 40; ++i) {
    CAPTURE(i);
    auto e = h.lookup(get("example.com", "/e/" + std::to_string(i)));
    if (e) {
      ++found;
      CHECK(e == entries[i]);
      CHECK(i >= 40 - static_cast<int>(kMax / one));
      CHECK(exists(e->path));
      CHECK(fp(served_body(store, *e)) == fp(make_body(8 << 10, i)));
    } else {
      CHECK(eventually([&] { return !exists(entries[i]->path); }));
    }
  }
  CHECK(found == store.stats().entries);
  CHECK(eventually([&] { return h.settled(); }));
  CHECK(disk_usage(h.path()) <= kMax + one);
  CHECK(store.stats().memory_bytes == (C::memory ? found * (8 << 10) : 0));
}

TEST_CASE_TEMPLATE("store: an entry that is looked up outlives the ones that are not", C, STORE_CONFIGS) {
  constexpr std::uint64_t kMax = 64 << 10;
  Harness<C> h([](StoreOptions& o) { o.max_size = kMax; });
  auto& store = h.store();
  auto req = [](int i) { return get("example.com", "/hot/" + std::to_string(i)); };
  for (int i = 0; i < 5; ++i) REQUIRE(put(store, make_meta(req(i)), make_body(8 << 10, i)));
  REQUIRE(store.stats().evictions == 0);
  REQUIRE(h.lookup(req(0)));
  REQUIRE(h.lookup(req(0)));
  for (int i = 5; i < 8; ++i) REQUIRE(put(store, make_meta(req(i)), make_body(8 << 10, i)));
  CHECK(store.stats().evictions == 3);
  CHECK(h.lookup(req(0)));
  for (int i = 1; i <= 3; ++i) CHECK_FALSE(h.lookup(req(i)));
  for (int i = 4; i < 8; ++i) CHECK(h.lookup(req(i)));
}

TEST_CASE_TEMPLATE("store: an entry larger than max_size is not kept", C, STORE_CONFIGS) {
  constexpr std::uint64_t kMax = 64 << 10;
  Harness<C> h([](StoreOptions& o) { o.max_size = kMax; });
  auto& store = h.store();
  REQUIRE(put(store, make_meta(get("example.com", "/small")), "small"));
  auto big = put(store, make_meta(get("example.com", "/big")), make_body(100'000, 3));
  (void)big;
  CHECK(store.stats().bytes <= kMax);
  CHECK_FALSE(h.lookup(get("example.com", "/big")));
  CHECK(eventually([&] { return h.settled(); }));
  CHECK(disk_usage(h.path()) <= kMax);
}

// ---------------------------------------------------------------- RAM tier

TEST_CASE_TEMPLATE("store: the RAM tier stays within memory and memory_entry_max", C, STORE_CONFIGS) {
  constexpr std::uint64_t kMemory = 40 << 10, kEntryMax = 16 << 10;
  Harness<C> h([](StoreOptions& o) {
    o.memory = C::memory ? kMemory : 0;
    o.memory_entry_max = kEntryMax;
  });
  auto& store = h.store();
  const std::vector<std::size_t> sizes = {1000, kEntryMax, kEntryMax + 1, 10'000, 10'000, 10'000, 20'000, 5'000, 0, 300};
  std::vector<std::shared_ptr<const Entry>> entries;
  auto ram_sum = [&] {
    std::uint64_t sum = 0;
    for (std::size_t i = 0; i < entries.size(); ++i)
      if (auto e = h.lookup(get("example.com", "/m/" + std::to_string(i))); e && e->body) sum += e->body->size();
    return sum;
  };
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    CAPTURE(i);
    const auto body = make_body(sizes[i], static_cast<std::uint32_t>(i));
    auto e = put(store, make_meta(get("example.com", "/m/" + std::to_string(i))), body);
    REQUIRE(e);
    entries.push_back(e);
    CHECK(store.stats().memory_bytes <= store.options().memory);
    if (sizes[i] > kEntryMax || !C::memory) CHECK_FALSE(e->body);
    if (e->body) CHECK(*e->body == body);
    CHECK(fp(served_body(store, *e)) == fp(body));
    CHECK(store.stats().memory_bytes == ram_sum());
  }
  if (C::memory) {
    CHECK(entries[0]->body);
    CHECK(entries[1]->body);  // exactly memory_entry_max
    CHECK(entries[3]->body);
    CHECK(store.stats().memory_bytes > 0);
    // Freeing RAM lets the next small entry in again.
    auto before = store.stats().memory_bytes.load();
    CHECK(store.purge_url(url_key("example.com", "/m/0", {})) == 1);
    CHECK(store.stats().memory_bytes == before - 1000);
    auto again = put(store, make_meta(get("example.com", "/m/again")), make_body(900, 1));
    REQUIRE(again);
    CHECK(again->body);
    CHECK(store.stats().memory_bytes <= kMemory);
  } else {
    CHECK(store.stats().memory_bytes == 0);
  }
}

// ---------------------------------------------------------------- persistence

TEST_CASE_TEMPLATE("store: entries survive a restart with identical meta and body", C, STORE_CONFIGS) {
  Harness<C> h;
  const std::vector<std::string> vary = {"accept-language"};
  struct Item {
    http::Request req;
    EntryMeta meta;
    std::string body;
  };
  std::vector<Item> items;
  auto add = [&](http::Request req, std::vector<std::string> v, std::vector<std::string> tags, std::string body) {
    auto meta = make_meta(req, std::move(v), std::move(tags));
    meta.body_size = body.size();
    items.push_back({std::move(req), std::move(meta), std::move(body)});
  };
  add(get("example.com", "/p/small"), {}, {"t1"}, "small body");
  add(get("example.com", "/p/v", {{"Accept-Language", "en"}}), vary, {}, "english");
  add(get("example.com", "/p/v", {{"Accept-Language", "fr"}}), vary, {"t1", "t2"}, "french");
  add(get("example.com", "/p/empty"), {}, {}, "");
  add(get("example.com", "/p/big"), {}, {"t2"}, make_body(200'000, 9));
  add(get("other.com", "/p/small"), {}, {}, make_body(5000, 10));
  items[0].meta.validators.last_modified.reset();
  items[1].meta.validators.etag.reset();
  items[2].meta.freshness.must_revalidate = true;
  items[3].meta.freshness.no_cache = true;
  items[3].meta.status = 204;

  for (auto& it : items) REQUIRE(put(h.store(), it.meta, it.body));
  const auto bytes = h->stats().bytes.load();
  h.restart();
  CHECK(h->stats().loaded == items.size());
  CHECK(h->stats().load_dropped == 0);
  CHECK(h->stats().entries == items.size());
  CHECK(h->stats().bytes == bytes);
  CHECK_FALSE(h->stats().loading);
  for (std::size_t i = 0; i < items.size(); ++i) {
    CAPTURE(i);
    auto e = h.lookup(items[i].req);
    REQUIRE(e);
    check_meta(e->meta, items[i].meta);
    CHECK(fp(served_body(h.store(), *e)) == fp(items[i].body));
    CHECK(fp(file_body(h.store(), *e)) == fp(items[i].body));
    CHECK(static_cast<bool>(e->body) == (C::memory > 0 && items[i].body.size() <= h.options().memory_entry_max));
  }
  CHECK_FALSE(h.lookup(get("example.com", "/p/v", {{"Accept-Language", "de"}})));
  // Tags came back too.
  CHECK(h->purge_tag("t2") == 2);
  // And a second restart sees the purge.
  h.restart();
  CHECK(h->stats().loaded == items.size() - 2);
  CHECK_FALSE(h.lookup(items[2].req));
  CHECK_FALSE(h.lookup(items[4].req));
  CHECK(h.lookup(items[0].req));
}

// Fills do not wait for the loader: a file written by this run is already
// indexed, and the loader neither indexes it twice nor deletes it as a stale
// copy of its own key.
TEST_CASE_TEMPLATE("store: the start-up loader leaves alone the files of fills made since start", C, STORE_CONFIGS) {
  Harness<C> h;
  auto old_req = get("example.com", "/before");
  auto new_req = get("example.com", "/since");
  auto refilled_req = get("example.com", "/refilled");
  REQUIRE(put(h.store(), make_meta(old_req), make_body(3000, 1)));
  auto stale_copy = put(h.store(), make_meta(refilled_req), make_body(3000, 2));
  REQUIRE(stale_copy);
  h.reopen_unstarted();
  auto fresh = put(h.store(), make_meta(new_req), make_body(3000, 3));
  auto refilled = put(h.store(), make_meta(refilled_req), make_body(3000, 4));
  REQUIRE(fresh);
  REQUIRE(refilled);
  h.start();
  CHECK(h->stats().loaded == 1);         // /before
  CHECK(h->stats().load_dropped == 1);   // the older copy of /refilled
  CHECK(h->stats().entries == 3);
  CHECK(fs::exists(fresh->path));
  CHECK(fs::exists(refilled->path));
  CHECK_FALSE(fs::exists(stale_copy->path));
  auto e = h.lookup(refilled_req);
  REQUIRE(e);
  CHECK(fp(served_body(h.store(), *e)) == fp(make_body(3000, 4)));
  REQUIRE(h.lookup(new_req));
  CHECK(fp(file_body(h.store(), *h.lookup(new_req))) == fp(make_body(3000, 3)));
  CHECK(eventually([&] { return h.settled(); }));
}

TEST_CASE_TEMPLATE("store: damaged files are dropped at start-up and never served", C, STORE_CONFIGS) {
  Harness<C> h;
  auto req = [](const std::string& name) { return get("example.com", "/d/" + name); };
  const std::vector<std::string> names = {"intact", "truncated", "body-flip", "meta-flip", "header-flip",
                                          "no-header", "extended"};
  std::map<std::string, std::shared_ptr<const Entry>> e;
  for (std::size_t i = 0; i < names.size(); ++i) {
    e[names[i]] = put(h.store(), make_meta(req(names[i])), make_body(10'000, static_cast<std::uint32_t>(i)));
    REQUIRE(e[names[i]]);
  }
  h.close();

  auto flip = [](const std::string& path, std::uint64_t offset) {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    REQUIRE(f);
    f.seekg(static_cast<std::streamoff>(offset));
    char c = 0;
    f.get(c);
    f.seekp(static_cast<std::streamoff>(offset));
    f.put(static_cast<char>(c ^ 0x20));
  };
  fs::resize_file(e["truncated"]->path, fs::file_size(e["truncated"]->path) - 1);
  flip(e["body-flip"]->path, e["body-flip"]->body_offset + 5000);
  flip(e["meta-flip"]->path, FileHeader::kSize + 10);
  flip(e["header-flip"]->path, 20);
  {
    std::fstream f(e["no-header"]->path, std::ios::in | std::ios::out | std::ios::binary);
    f.write(std::string(FileHeader::kSize, '\0').data(), FileHeader::kSize);
  }
  { std::ofstream(e["extended"]->path, std::ios::app | std::ios::binary) << "x"; }
  // Files that were never entries, in a bucket directory.
  const auto bucket = fs::path(h.path()) / "ab" / "cd";
  fs::create_directories(bucket);
  const auto zero = (bucket / "00000000000000ab-1").string();
  const auto garbage = (bucket / "garbage name.txt").string();
  { std::ofstream(zero, std::ios::binary); }
  { std::ofstream(garbage, std::ios::binary) << std::string(200, 'g'); }
  const std::size_t damaged = names.size() - 1 + 2;

  h.restart();
  CHECK(h->stats().loaded == 1);
  CHECK(h->stats().load_dropped == damaged);
  CHECK(h->stats().entries == 1);
  CHECK(h->stats().bytes == e["intact"]->charged);
  for (const auto& name : names) {
    CAPTURE(name);
    auto found = h.lookup(req(name));
    if (name == "intact") {
      REQUIRE(found);
      CHECK(fp(served_body(h.store(), *found)) == fp(make_body(10'000, 0)));
    } else {
      CHECK_FALSE(found);
      CHECK_FALSE(exists(e[name]->path));
    }
  }
  CHECK_FALSE(exists(zero));
  CHECK_FALSE(exists(garbage));
  CHECK(entry_files(h.path()).size() == 1);
}

// ---------------------------------------------------------------- refresh

namespace {
EntryMeta refreshed_meta(EntryMeta m) {
  m.head = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nETag: \"v2\"\r\nX-Refreshed: yes\r\n";
  m.request_time += 100;
  m.response_time += 101;
  m.initial_age = 0;
  m.freshness.lifetime = 1234;
  m.freshness.must_revalidate = true;
  m.validators.etag = "\"v2\"";
  m.validators.last_modified.reset();
  return m;
}
}  // namespace

TEST_CASE_TEMPLATE("store: refresh serves new meta at once and persists it", C, STORE_CONFIGS) {
  Harness<C> h;
  for (std::size_t size : {std::size_t{500}, std::size_t{100'000}}) {
    CAPTURE(size);
    auto req = get("example.com", "/f/" + std::to_string(size));
    const auto body = make_body(size, 5);
    auto old = put(h.store(), make_meta(req), body);
    REQUIRE(old);
    auto looked = h.lookup(req);
    REQUIRE(looked);
    auto meta2 = refreshed_meta(looked->meta);
    auto r = h->refresh(looked, meta2);
    REQUIRE(r);
    check_meta(r->meta, meta2);
    CHECK(r->id == old->id);

    auto now_served = h.lookup(req);
    REQUIRE(now_served);
    check_meta(now_served->meta, meta2);
    CHECK(fp(served_body(h.store(), *now_served)) == fp(body));
    CHECK(h->stats().entries == 1);

    // The background persist rewrites the file: a new path, the old one gone.
    CHECK(eventually([&] { return h.lookup(req)->path != old->path; }));
    auto persisted = h.lookup(req);
    REQUIRE(persisted);
    check_meta(persisted->meta, meta2);
    CHECK(fp(served_body(h.store(), *persisted)) == fp(body));
    CHECK(fp(file_body(h.store(), *persisted)) == fp(body));
    CHECK(eventually([&] { return !exists(old->path); }));
    CHECK(eventually([&] { return h.settled(); }));

    h.restart();
    auto after = h.lookup(req);
    REQUIRE(after);
    check_meta(after->meta, meta2);
    CHECK(fp(served_body(h.store(), *after)) == fp(body));
    CHECK(h->purge_prefix("", "/") == 1);
  }
}

TEST_CASE_TEMPLATE("store: refresh of an entry replaced meanwhile keeps the newer fill", C,
                   STORE_CONFIGS) {
  Harness<C> h;
  auto req = get("example.com", "/race/replaced");
  auto a = put(h.store(), make_meta(req), "old body A");
  REQUIRE(a);
  auto stale = h.lookup(req);  // a revalidation starts with A...
  REQUIRE(stale);
  auto b = put(h.store(), make_meta(req), "new body B");  // ...a full fetch stores B meanwhile...
  REQUIRE(b);
  CHECK(eventually([&] { return !exists(a->path); }));
  h->refresh(stale, refreshed_meta(stale->meta));  // ...and then the 304 for A arrives
  CHECK(eventually([&] { return h.settled(); }, std::chrono::milliseconds(500)));

  auto e = h.lookup(req);
  REQUIRE(e);
  CHECK(fp(served_body(h.store(), *e)) == fp("new body B"));
  CHECK(exists(e->path));
  CHECK(fp(path_body(*e)) == fp("new body B"));
  CHECK(h->stats().entries == 1);
  CHECK(entry_files(h.path()).size() == 1);
}

TEST_CASE_TEMPLATE("store: refresh of an entry purged meanwhile leaves no entry without a file", C,
                   STORE_CONFIGS) {
  Harness<C> h;
  auto req = get("example.com", "/race/purged");
  REQUIRE(put(h.store(), make_meta(req), "purged body"));
  auto stale = h.lookup(req);
  REQUIRE(stale);
  CHECK(h->purge_url(url_key("example.com", "/race/purged", {})) == 1);
  CHECK(eventually([&] { return !exists(stale->path); }));
  h->refresh(stale, refreshed_meta(stale->meta));
  CHECK(eventually([&] { return h.settled(); }, std::chrono::milliseconds(500)));
  if (auto e = h.lookup(req)) {
    CHECK(exists(e->path));
    CHECK(fp(file_body(h.store(), *e)) == fp("purged body"));
  }
  CHECK(h->stats().entries == entry_files(h.path()).size());
}

TEST_CASE_TEMPLATE("store: the entry refresh() returns can be served", C, STORE_CONFIGS) {
  Harness<C> h;
  auto req = get("example.com", "/f/served");
  const auto body = make_body(100'000, 4);  // over memory_entry_max: served from the file
  REQUIRE(put(h.store(), make_meta(req), body));
  auto stale = h.lookup(req);
  REQUIRE(stale);
  auto r = h->refresh(stale, refreshed_meta(stale->meta));
  REQUIRE(r);
  CHECK(fp(served_body(h.store(), *r)) == fp(body));
  // Let the persist finish before the store goes (see the shutdown BUG below).
  CHECK(eventually([&] { return h.lookup(req)->path != stale->path; }));
}

TEST_CASE_TEMPLATE("store: a persisted refresh is charged for its new file", C, STORE_CONFIGS) {
  Harness<C> h;
  auto req = get("example.com", "/f/grow");
  auto old = put(h.store(), make_meta(req), make_body(3000, 1));
  REQUIRE(old);
  REQUIRE(old->charged == 4096);
  auto stale = h.lookup(req);
  auto meta2 = refreshed_meta(stale->meta);
  meta2.head += "X-Big: " + std::string(6000, 'b') + "\r\n";
  h->refresh(stale, meta2);
  CHECK(eventually([&] { return h.lookup(req)->path != old->path; }));
  CHECK(eventually([&] { return h.settled(); }, std::chrono::milliseconds(500)));
  auto e = h.lookup(req);
  REQUIRE(e);
  CHECK(e->charged >= fs::file_size(e->path));
  CHECK(h->stats().bytes >= disk_usage(h.path()));
}

TEST_CASE_TEMPLATE("store: a reader of a replaced entry does not poison the open-file cache", C,
                   STORE_CONFIGS) {
  TempDir dir;
  StoreOptions o;
  o.path = dir.path();
  o.policy = C::policy;
  o.memory = C::memory;
  Store store(o);
  store.start();
  store.wait_loaded();
  for (int i = 0; i < 200; ++i) REQUIRE(put(store, make_meta(get("example.com", "/filler/" + std::to_string(i))), "f"));

  auto req = get("example.com", "/poison");
  const auto body_a = make_body(100'000, 1), body_b = make_body(100'000, 2);
  auto meta_a = make_meta(req), meta_b = make_meta(req);
  meta_a.head += "X-Version: A\r\n";  // same length: the same body offset
  meta_b.head += "X-Version: B\r\n";
  REQUIRE(put(store, meta_a, body_a));
  auto a = store.lookup(cache_key(req, {}), req, now());  // a request is about to serve A
  REQUIRE(a);
  CHECK(store.purge_prefix("example.com", "/filler/") == 200);  // 200 deletions queued
  REQUIRE(put(store, meta_b, body_b));  // B replaces A; A's deletion queued last
  bool opened_old = store.open(*a) != nullptr;  // the request gets to open() A
  CAPTURE(opened_old);
  auto b = store.lookup(cache_key(req, {}), req, now());
  REQUIRE(b);
  CHECK(fp(file_body(store, *b)) == fp(body_b));  // what a hit on B sends
  CHECK(fp(path_body(*b)) == fp(body_b));
}

TEST_CASE("store: destroying a started store with a pending refresh returns") {
  TempDir dir;
  std::fflush(nullptr);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    int code = 0;
    try {
      StoreOptions o;
      o.path = dir.path();
      auto store = std::make_unique<Store>(o);
      store->start();
      store->wait_loaded();
      for (int i = 0; i < 100; ++i) {
        auto w = store->begin(make_meta(get("example.com", "/filler/" + std::to_string(i))));
        if (!w || !w->write("f") || !w->commit(1)) ::_exit(3);
      }
      auto req = get("example.com", "/pending");
      auto w = store->begin(make_meta(req));
      if (!w || !w->write("body") || !w->commit(4)) ::_exit(3);
      auto stale = store->lookup(cache_key(req, {}), req, now());
      if (!stale) ::_exit(3);
      store->purge_prefix("", "/filler/");              // queue deletions ahead...
      store->refresh(stale, refreshed_meta(stale->meta));  // ...of the persist
      store.reset();
    } catch (...) {
      code = 2;
    }
    ::_exit(code);
  }
  int status = 0;
  bool exited = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline) {
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      exited = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (!exited) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  }
  CHECK(exited);
  if (exited) {
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
}

// ---------------------------------------------------------------- concurrency

namespace {
std::uint32_t crc_in_head(const EntryMeta& m) {
  auto at = m.head.find("X-Crc: ");
  if (at == std::string::npos) return 0xffffffffu;
  return static_cast<std::uint32_t>(std::stoul(m.head.substr(at + 7)));
}
}  // namespace

TEST_CASE_TEMPLATE("store: concurrent lookups, commits and purges keep the invariants", C, STORE_CONFIGS) {
  constexpr std::uint64_t kMax = 256 << 10;
  Harness<C> h([](StoreOptions& o) {
    o.max_size = kMax;
    o.memory = C::memory ? 64 << 10 : 0;
    o.memory_entry_max = 8 << 10;
  });
  auto& store = h.store();
  constexpr int kPaths = 24;
  const std::vector<std::string> vary = {"accept-language"};
  const std::vector<std::string> langs = {"en", "fr"};
  auto request_for = [&](int p, int l) {
    return get("example.com", "/c/" + std::to_string(p), {{"Accept-Language", langs[static_cast<std::size_t>(l)]}});
  };
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> hits{0}, commits{0}, purged{0}, bad_ram{0}, bad_file{0}, bad_open{0};

  auto worker = [&](unsigned seed) {
    std::mt19937 rng(seed);
    while (!stop.load(std::memory_order_relaxed)) {
      const int p = static_cast<int>(rng() % kPaths), l = static_cast<int>(rng() % 2);
      const auto req = request_for(p, l);
      const auto key = cache_key(req, {});
      const unsigned op = rng() % 100;
      if (op < 55) {
        auto e = store.lookup(key, req, now());
        if (!e) continue;
        hits++;
        const auto crc = crc_in_head(e->meta);
        if (e->body && (e->body->size() != e->meta.body_size || crc32(0, *e->body) != crc)) bad_ram++;
        // The file may be gone already (evicted or purged since the lookup).
        if (auto b = path_body(*e); b && crc32(0, *b) != crc) bad_file++;
        if (auto b = file_body(store, *e); b && crc32(0, *b) != crc) bad_open++;
      } else if (op < 90) {
        const auto body = make_body(rng() % 20'000, static_cast<std::uint32_t>(rng()));
        auto meta = make_meta(req, vary, {"tag" + std::to_string(p % 3)});
        meta.head += "X-Crc: " + std::to_string(crc32(0, body)) + "\r\n";
        auto w = store.begin(std::move(meta));
        if (!w) continue;
        const auto half = body.size() / 2;
        w->write(std::string_view(body).substr(0, half));
        w->write(std::string_view(body).substr(half));
        if (w->commit(body.size())) commits++;
      } else if (op < 95) {
        purged += store.purge_url(url_key("example.com", "/c/" + std::to_string(p), {}));
      } else if (op < 98) {
        purged += store.purge_tag("tag" + std::to_string(p % 3));
      } else if (auto e = store.lookup(key, req, now())) {
        store.remove(e);
      }
    }
  };
  std::vector<std::thread> threads;
  for (unsigned i = 0; i < 4; ++i) threads.emplace_back(worker, 1000 + i);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  stop = true;
  for (auto& t : threads) t.join();

  MESSAGE("hits " << hits.load() << ", commits " << commits.load() << ", purged " << purged.load()
                  << ", evictions " << store.stats().evictions.load());
  CHECK(commits > 0);
  CHECK(hits > 0);
  CHECK(bad_ram == 0);
  CHECK(bad_file == 0);
  CHECK(store.stats().bytes <= kMax);
  CHECK(store.stats().memory_bytes <= store.options().memory);

  // Every indexed entry: its file exists and holds its body; the counters
  // add up; no file is left that the index does not know.
  std::uint64_t found = 0, bytes = 0, ram = 0;
  for (int p = 0; p < kPaths; ++p) {
    for (int l = 0; l < 2; ++l) {
      CAPTURE(p);
      CAPTURE(l);
      auto req = request_for(p, l);
      auto e = store.lookup(cache_key(req, {}), req, now());
      if (!e) continue;
      ++found;
      bytes += e->charged;
      if (e->body) ram += e->body->size();
      auto b = path_body(*e);
      REQUIRE(b);
      CHECK(crc32(0, *b) == crc_in_head(e->meta));
      if (e->body) CHECK(*e->body == *b);
    }
  }
  CHECK(found == store.stats().entries);
  CHECK(bytes == store.stats().bytes);
  CHECK(ram == store.stats().memory_bytes);
  CHECK(eventually([&] { return h.settled(); }));
  CHECK(tmp_files(h.path()) == 0);
  // Reads through the open-file cache (see the open-file cache BUG above).
  if (bad_open) MESSAGE("hits read from the wrong file through open(): " << bad_open.load());
}
