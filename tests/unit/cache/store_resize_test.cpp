// Store::resize and Zone::reconfigure (a reload's new limits for a kept
// zone): a smaller max_size evicts down to it at once and keeps the rest, a
// larger one keeps everything, a policy change keeps every entry and
// rebuilds the order from the last use, a smaller RAM tier lets go of RAM
// copies (the entries stay, served from their files). Runs over the store
// conformance configurations (store_fixture.hpp).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "cache/store.hpp"
#include "cache/zone.hpp"
#include "store_fixture.hpp"

using namespace gateway::cache;
using namespace gateway::cache::testing;

namespace {
// `n` entries of 8 KiB bodies (12 KiB charged each), /e/0 .. /e/n-1.
std::vector<std::shared_ptr<const Entry>> fill(Store& store, int n) {
  std::vector<std::shared_ptr<const Entry>> entries;
  for (int i = 0; i < n; ++i) {
    auto e = put(store, make_meta(get("example.com", "/e/" + std::to_string(i))), make_body(8 << 10, i));
    REQUIRE(e);
    entries.push_back(e);
  }
  return entries;
}
constexpr std::uint64_t kOne = 12 << 10;
}  // namespace

TEST_CASE_TEMPLATE("store resize: a smaller max_size evicts down to it at once", C, STORE_CONFIGS) {
  Harness<C> h([](StoreOptions& o) { o.max_size = 256 << 10; });
  auto& store = h.store();
  auto entries = fill(store, 10);
  REQUIRE(store.stats().entries == 10);
  auto next = store.options();
  next.max_size = 64 << 10;  // no headroom under 256 KiB: exactly 5 entries
  store.resize(next);
  CHECK(store.options().max_size == next.max_size);
  CHECK(store.stats().bytes <= next.max_size);
  CHECK(store.stats().entries == next.max_size / kOne);
  CHECK(store.stats().evictions == 10 - next.max_size / kOne);
  // No hits: the newest are kept, with their bodies; the others' files go.
  for (int i = 0; i < 10; ++i) {
    CAPTURE(i);
    auto e = h.lookup(get("example.com", "/e/" + std::to_string(i)));
    if (i >= 10 - static_cast<int>(next.max_size / kOne)) {
      REQUIRE(e);
      CHECK(fp(served_body(store, *e)) == fp(make_body(8 << 10, i)));
    } else {
      CHECK(!e);
      CHECK(eventually([&] { return !exists(entries[i]->path); }));
    }
  }
  // New fills follow the new size.
  fill(store, 3);
  CHECK(store.stats().bytes <= next.max_size);
}

TEST_CASE_TEMPLATE("store resize: a larger max_size keeps every entry and admits more", C, STORE_CONFIGS) {
  Harness<C> h([](StoreOptions& o) { o.max_size = 64 << 10; });
  auto& store = h.store();
  fill(store, 5);
  auto next = store.options();
  next.max_size = 256 << 10;
  store.resize(next);
  CHECK(store.stats().entries == 5);
  auto more = fill(store, 10);  // same keys /e/0../e/4 replaced, then 5 more
  CHECK(store.stats().entries == 10);
  CHECK(store.stats().evictions == 0);
}

TEST_CASE_TEMPLATE("store resize: a policy change keeps the entries, least recently used evicted first", C,
                   STORE_CONFIGS) {
  Harness<C> h([](StoreOptions& o) { o.max_size = 64 << 10; });
  auto& store = h.store();
  fill(store, 5);
  // /e/0 is the most recently used (a later clock than the fills').
  auto req0 = get("example.com", "/e/0");
  REQUIRE(store.lookup(cache_key(req0, {}), req0, now() + 100));
  auto next = store.options();
  next.policy.kind = C::policy == PolicyKind::lru ? PolicyKind::s3fifo : PolicyKind::lru;
  store.resize(next);
  CHECK(store.options().policy == next.policy);
  CHECK(store.stats().entries == 5);
  // One entry less fits: the least recently used goes, never /e/0 (no
  // lookup before this: it would change the order).
  next.max_size = 4 * kOne;
  store.resize(next);
  CHECK(store.stats().entries == 4);
  CHECK(h.lookup(req0));
  int found = 0;
  for (int i = 1; i < 5; ++i) found += h.lookup(get("example.com", "/e/" + std::to_string(i))) != nullptr;
  CHECK(found == 3);
}

TEST_CASE_TEMPLATE("store resize: a smaller RAM tier lets go of RAM copies and keeps the entries", C, STORE_CONFIGS) {
  Harness<C> h([](StoreOptions& o) { o.max_size = 256 << 10; });
  auto& store = h.store();
  fill(store, 4);
  CHECK(store.stats().memory_bytes == (C::memory > 0 ? 4u * (8 << 10) : 0u));
  auto next = store.options();
  next.memory_entry_max = 4 << 10;  // the 8 KiB bodies no longer qualify
  store.resize(next);
  CHECK(store.stats().memory_bytes == 0);
  CHECK(store.stats().entries == 4);
  for (int i = 0; i < 4; ++i) {
    CAPTURE(i);
    auto e = h.lookup(get("example.com", "/e/" + std::to_string(i)));
    REQUIRE(e);
    CHECK(!e->body);
    CHECK(fp(served_body(store, *e)) == fp(make_body(8 << 10, i)));
  }
  // A memory budget of 8 KiB keeps at most one new copy.
  next.memory_entry_max = 64 << 10;
  next.memory = 8 << 10;
  store.resize(next);
  fill(store, 3);
  CHECK(store.stats().memory_bytes <= next.memory);
}

TEST_CASE("zone reconfigure: the store's limits apply live, other keys change nothing in it") {
  TempDir dir;
  ZoneConfig base;
  base.name = "z";
  base.path = dir.path();
  struct Row {
    const char* name;
    void (*change)(ZoneConfig&);
    bool resized;
  };
  const Row rows[] = {
      {"nothing", [](ZoneConfig&) {}, false},
      {"max_size", [](ZoneConfig& c) { c.max_size *= 2; }, true},
      {"memory", [](ZoneConfig& c) { c.memory /= 2; }, true},
      {"memory_entry_max", [](ZoneConfig& c) { c.memory_entry_max += 1; }, true},
      {"policy", [](ZoneConfig& c) { c.policy.kind = PolicyKind::lru; }, true},
      {"inactive", [](ZoneConfig& c) { c.inactive = gateway::Duration(1'000); }, true},
      {"tags_header", [](ZoneConfig& c) { c.tags_header = "Cache-Tag"; }, false},
  };
  for (const auto& r : rows) {
    CAPTURE(r.name);
    Zone zone(base);
    zone.store.wait_loaded();
    ZoneConfig next = base;
    r.change(next);
    CHECK(zone.reconfigure(next) == r.resized);
    auto o = zone.store.options();
    auto want = store_options(next);
    CHECK(o.max_size == want.max_size);
    CHECK(o.memory == want.memory);
    CHECK(o.memory_entry_max == want.memory_entry_max);
    CHECK(o.policy == want.policy);
    CHECK(o.inactive == want.inactive);
  }
}
