// The store with an admission rule and a policy spec (cache/admission.hpp,
// cache/eviction.hpp): begin() refuses what the rule does not admit
// (Refusal::admission, not a write error), lookups count the requests, a
// zone's fast memory-hit path does not count a request twice, and a reload
// applies new specs (a fresh admission rule).
#include <doctest/doctest.h>

#include <string>

#include "cache/store.hpp"
#include "cache/zone.hpp"
#include "store_fixture.hpp"

using namespace gateway::cache;
using namespace gateway::cache::testing;

namespace {
gateway::http::Request req_of(int i) { return get("example.com", "/a/" + std::to_string(i)); }

// A new fill of request i: whether begin() took it, and why not.
Store::Refusal try_fill(Store& store, int i) {
  auto refusal = Store::Refusal::none;
  auto w = store.begin(make_meta(req_of(i)), &refusal);
  if (w) {
    const std::string body = make_body(8 << 10, static_cast<std::uint32_t>(i));
    REQUIRE(w->write(body));
    REQUIRE(w->commit(body.size()));
  }
  return refusal;
}

AdmissionSpec spec_of(const char* text) {
  std::string error;
  auto spec = parse_admission_spec(text, error);
  REQUIRE(spec);
  return *spec;
}
}  // namespace

TEST_SUITE_BEGIN("admission");

TEST_CASE("store admission: min_uses:2 stores a key's second request, not its first") {
  Harness<LruRam> h([](StoreOptions& o) { o.admission = spec_of("min_uses:2"); });
  auto& store = h.store();
  CHECK(!h.lookup(req_of(1)));  // request 1: a miss, counted
  CHECK(try_fill(store, 1) == Store::Refusal::admission);
  CHECK(store.stats().admission_refused == 1);
  CHECK(store.stats().write_errors == 0);
  CHECK(store.stats().entries == 0);
  CHECK(!h.lookup(req_of(1)));  // request 2
  CHECK(try_fill(store, 1) == Store::Refusal::none);
  CHECK(h.lookup(req_of(1)));  // request 3: a hit
  // Another key counts apart.
  CHECK(try_fill(store, 2) == Store::Refusal::admission);
  CHECK(store.stats().admission_refused == 2);
  CHECK(store.stats().entries == 1);
}

TEST_CASE("store admission: none and min_uses:1 store a first request") {
  for (const char* text : {"none", "min_uses:1"}) {
    CAPTURE(text);
    Harness<LruRam> h([&](StoreOptions& o) { o.admission = spec_of(text); });
    CHECK(try_fill(h.store(), 1) == Store::Refusal::none);
    CHECK(h.store().stats().admission_refused == 0);
  }
}

// 60 KiB, entries of 12 KiB: five fill the zone (one more 4 KiB block would
// pass the low-water mark, which is max_size under 256 KiB).
TEST_CASE("store admission: tinylfu admits while there is room, then only keys more frequent than the victim") {
  Harness<LruRam> h([](StoreOptions& o) {
    o.max_size = 60 << 10;
    o.admission = spec_of("tinylfu");
  });
  auto& store = h.store();
  for (int i = 0; i < 5; ++i) {
    CHECK(!h.lookup(req_of(i)));  // each requested once: room, admitted
    CHECK(try_fill(store, i) == Store::Refusal::none);
  }
  CHECK(store.stats().entries == 5);
  CHECK(admission_full(store.stats().bytes, 60 << 10));
  for (int round = 0; round < 2; ++round)
    for (int i = 0; i < 5; ++i) CHECK(h.lookup(req_of(i)));
  // LRU's victim is /a/0, requested 3 times: estimate 3. /a/9 needs 4.
  for (int n = 1; n <= 3; ++n) {
    CAPTURE(n);
    CHECK(!h.lookup(req_of(9)));
    CHECK(try_fill(store, 9) == Store::Refusal::admission);
  }
  CHECK(!h.lookup(req_of(9)));
  CHECK(try_fill(store, 9) == Store::Refusal::none);
  CHECK(store.stats().entries == 5);
  CHECK(!h.lookup(req_of(0)));  // the victim went
  CHECK(store.stats().admission_refused == 3);
  CHECK(store.stats().write_errors == 0);
}

TEST_CASE("store admission: a resize applies new specs, the admission rule starting afresh") {
  Harness<LruRam> h([](StoreOptions& o) { o.admission = spec_of("min_uses:2"); });
  auto& store = h.store();
  h.lookup(req_of(1));
  auto next = store.options();
  std::string error;
  next.policy = *parse_policy_spec("s3fifo:small=5%:promote=2", error);
  next.admission = spec_of("min_uses:3");
  store.resize(next);
  CHECK(store.options().policy == next.policy);
  CHECK(store.options().admission == next.admission);
  h.lookup(req_of(1));  // counted from 1 again: the old count is gone
  CHECK(try_fill(store, 1) == Store::Refusal::admission);
  h.lookup(req_of(1));
  CHECK(try_fill(store, 1) == Store::Refusal::admission);
  h.lookup(req_of(1));
  CHECK(try_fill(store, 1) == Store::Refusal::none);
  // A policy parameter alone is a change too.
  next.policy.promote = 1;
  store.resize(next);
  CHECK(store.options().policy.promote == 1);
  CHECK(store.stats().entries == 1);
}

TEST_CASE("zone admission: the fast memory-hit path counts a request only when it serves it") {
  TempDir dir;
  ZoneConfig config;
  config.name = "z";
  config.path = dir.path();
  config.admission = spec_of("min_uses:2");
  Zone zone(config);
  zone.store.wait_loaded();
  const RuleConfig rule;
  const auto req = req_of(1);
  // A miss on the fast path, then the full lookup of the same request: one
  // request, so not admitted yet.
  CHECK(!zone.fresh_memory_hit(req, rule, now()));
  CHECK(!zone.store.lookup(cache_key(req, rule), req, now()));
  CHECK(try_fill(zone.store, 1) == Store::Refusal::admission);
  CHECK(!zone.fresh_memory_hit(req, rule, now()));
  CHECK(!zone.store.lookup(cache_key(req, rule), req, now()));
  CHECK(try_fill(zone.store, 1) == Store::Refusal::none);

  ZoneConfig same = config;
  CHECK_FALSE(zone.reconfigure(same));
  ZoneConfig other = config;
  other.admission = spec_of("tinylfu");
  CHECK(zone.reconfigure(other));
  other.policy.small = 0.2;
  CHECK(zone.reconfigure(other));
  CHECK(zone.store.options().policy.small == 0.2);
}

TEST_SUITE_END();
