// Conformance suite for cache/store, the core of it: put then lookup, writers
// that commit, fail or abort, the temporary files fills write into, and Vary
// variants. Purge, eviction and the RAM tier, the start-up loader, refresh
// and concurrency have their own store_*_test.cpp files. Every case runs over
// each store configuration (eviction policy, RAM tier on or off, background
// thread started or not), Envoy's http_cache_implementation_test_common
// style. Each case gets a fresh temporary directory, removed afterwards.
//
// Deletions and rewrites happen on the store's background thread once it is
// started (inline otherwise), so checks of the disk poll with a bounded loop
// (`eventually`) instead of sleeping a fixed time. The configurations and
// helpers are in store_fixture.hpp.
#include "cache/store.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include "store_fixture.hpp"

namespace fs = std::filesystem;
using namespace gateway::cache;
using namespace gateway::cache::testing;

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
  // 4,096 mkdirs: slow on a disk other processes load; the limit only bounds a failure.
  REQUIRE(eventually([&] { return buckets() == 16 * 256; }, std::chrono::seconds(60)));
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
  o.policy.kind = C::policy;
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
