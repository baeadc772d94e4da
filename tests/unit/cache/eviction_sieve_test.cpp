// Tests for SIEVE (cache/eviction_sieve.cpp) on hand-worked sequences with
// exact victims, and for victim_hint() of every policy.
#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

#include "cache/eviction.hpp"

using gateway::cache::EvictionPolicy;
using gateway::cache::make_policy;
using gateway::cache::PolicyKind;
using gateway::cache::PolicySpec;

namespace {
constexpr std::uint64_t a = 1, b = 2, c = 3, d = 4, e = 5;
using Ids = std::vector<std::uint64_t>;

Ids drain(EvictionPolicy& policy) {
  Ids victims;
  while (auto victim = policy.evict()) victims.push_back(*victim);
  return victims;
}
}  // namespace

TEST_SUITE_BEGIN("eviction");

// Queue written head (newest) first; * marks a visited bit, ^ the hand.
TEST_CASE("eviction: sieve hand-worked sequence") {
  auto sieve = make_policy(PolicyKind::sieve, 100);
  for (auto id : {a, b, c, d}) sieve->insert(id, 10);  // d c b a
  sieve->touch(a);
  sieve->touch(c);  // d c* b a*
  // The hand starts at the tail: a* is cleared, b is the victim; the hand
  // stays at b's neighbour towards the head, c.
  CHECK(sieve->evict() == b);  // d c*^ a
  sieve->insert(e, 10);        // e d c*^ a: new entries at the head
  // From c (not from the tail, where a's bit is clear now): c* is cleared,
  // d is the victim; the hand moves on to e.
  CHECK(sieve->evict() == d);  // e^ c a
  sieve->touch(a);             // e^ c a*
  // e is unvisited: the victim; it was the head, so the hand restarts at
  // the tail: a* is cleared, c is the victim, then a.
  CHECK(drain(*sieve) == Ids{e, c, a});
  CHECK(sieve->bytes() == 0);
  CHECK(sieve->entries() == 0);
}

TEST_CASE("eviction: sieve hits do not move entries (unlike lru)") {
  auto sieve = make_policy(PolicyKind::sieve, 100);
  auto lru = make_policy(PolicyKind::lru, 100);
  for (auto* p : {sieve.get(), lru.get()}) {
    for (auto id : {a, b, c}) p->insert(id, 10);
    p->touch(b);
    p->touch(a);
  }
  // lru: a and b moved to the front, c is the oldest. sieve: a* and b* are
  // cleared as the hand passes, c is the victim, then the hand wraps to the
  // tail again: a, then b, in insertion order.
  CHECK(drain(*lru) == Ids{c, b, a});
  CHECK(drain(*sieve) == Ids{c, a, b});
}

TEST_CASE("eviction: sieve erasing the entry under the hand moves the hand towards the head") {
  auto sieve = make_policy(PolicyKind::sieve, 100);
  for (auto id : {a, b, c, d}) sieve->insert(id, 10);  // d c b a
  sieve->touch(a);
  CHECK(sieve->evict() == b);  // d c^ a
  sieve->touch(d);
  sieve->erase(c);             // d*^ a
  CHECK(sieve->bytes() == 20);
  // From d: d* is cleared, then past the head back to the tail: a is the
  // victim (its bit was cleared by the first eviction).
  CHECK(sieve->evict() == a);
  CHECK(drain(*sieve) == Ids{d});
}

TEST_CASE("eviction: sieve sizes count in bytes but not in the order") {
  auto sieve = make_policy(PolicyKind::sieve, 100);
  sieve->insert(a, 70);
  sieve->insert(b, 1);
  CHECK(sieve->bytes() == 71);
  CHECK(sieve->evict() == a);
  CHECK(sieve->bytes() == 1);
}

TEST_CASE("eviction: victim_hint names the next victim without changing anything") {
  SUBCASE("lru: exactly the next victim") {
    auto lru = make_policy(PolicyKind::lru, 100);
    CHECK(lru->victim_hint() == std::nullopt);
    for (auto id : {a, b, c}) lru->insert(id, 10);
    lru->touch(a);
    CHECK(lru->victim_hint() == b);
    CHECK(lru->victim_hint() == b);
    CHECK(drain(*lru) == Ids{b, c, a});
  }
  SUBCASE("sieve: the first unvisited entry from the hand") {
    auto sieve = make_policy(PolicyKind::sieve, 100);
    CHECK(sieve->victim_hint() == std::nullopt);
    for (auto id : {a, b, c, d}) sieve->insert(id, 10);
    sieve->touch(a);
    sieve->touch(b);
    CHECK(sieve->victim_hint() == c);
    CHECK(sieve->evict() == c);  // d^ b a: the eviction (not the hint) cleared a's and b's bits
    sieve->touch(d);             // d*^ b a
    CHECK(sieve->victim_hint() == a);
    CHECK(sieve->evict() == a);
  }
  SUBCASE("s3fifo: S's tail below the promotion threshold, else M's") {
    auto s3 = make_policy(PolicySpec{PolicyKind::s3fifo, 0.10, 2}, 100);
    CHECK(s3->victim_hint() == std::nullopt);
    for (auto id : {a, b, c}) s3->insert(id, 10);
    s3->touch(a);
    s3->touch(a);  // a will move to M (freq 2 >= promote 2)
    s3->touch(b);  // b (freq 1) will not
    CHECK(s3->victim_hint() == b);
    CHECK(s3->evict() == b);
    CHECK(s3->victim_hint() == c);
    CHECK(s3->evict() == c);
    CHECK(s3->victim_hint() == a);  // only a, in M, is left
    CHECK(s3->evict() == a);
  }
}

TEST_SUITE_END();
