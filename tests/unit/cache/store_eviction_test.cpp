// Conformance suite for cache/store, eviction and the RAM tier: max_size
// holds, entries looked up outlive the others, an entry over max_size is not
// kept, and the RAM copies stay within memory and memory_entry_max. Every
// case runs over each store configuration (eviction policy, RAM tier on or
// off, background thread started or not), Envoy's
// http_cache_implementation_test_common style. Each case gets a fresh
// temporary directory, removed afterwards.
//
// Deletions and rewrites happen on the store's background thread once it is
// started (inline otherwise), so checks of the disk poll with a bounded loop
// (`eventually`) instead of sleeping a fixed time. The configurations and
// helpers are in store_fixture.hpp.
#include "cache/store.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "store_fixture.hpp"

using namespace gateway::cache;
using namespace gateway::cache::testing;

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
