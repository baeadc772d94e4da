// EvictionPolicy::resize: a reload's new byte budget keeps the entries and
// their order; S3-FIFO re-sizes its small share and trims its ghost queue.
#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

#include "cache/eviction.hpp"

using gateway::cache::EvictionPolicy;
using gateway::cache::make_policy;
using gateway::cache::PolicyKind;

namespace {
std::vector<std::uint64_t> drain(EvictionPolicy& policy) {
  std::vector<std::uint64_t> victims;
  while (auto victim = policy.evict()) victims.push_back(*victim);
  return victims;
}
}  // namespace

TEST_CASE("eviction resize: entries, bytes and victim order are kept") {
  for (auto kind : {PolicyKind::lru, PolicyKind::s3fifo, PolicyKind::sieve}) {
    CAPTURE(gateway::cache::to_string(kind));
    auto policy = make_policy(kind, 100);
    for (std::uint64_t id = 1; id <= 5; ++id) policy->insert(id, 10);
    policy->resize(30);
    CHECK(policy->entries() == 5);
    CHECK(policy->bytes() == 50);
    CHECK(drain(*policy) == std::vector<std::uint64_t>{1, 2, 3, 4, 5});
  }
}

// With a 100-byte budget the ghost holds 90 bytes: an entry of 50 evicted
// from S is remembered and, inserted again, goes to M. After a resize to 20
// (ghost 18 bytes) it is forgotten and goes to S like any new entry.
TEST_CASE("eviction resize: s3fifo forgets the ghosts past the new budget") {
  constexpr std::uint64_t a = 1, b = 2;
  // Where `a` lands decides the victim: in M with two hits it is kept only
  // while its hits last; in S with two hits it moves to M and b goes.
  auto victim_after = [&](bool resize) {
    auto policy = make_policy(PolicyKind::s3fifo, 100);
    policy->insert(a, 50);
    REQUIRE(policy->evict() == a);  // into the ghost
    if (resize) policy->resize(20);
    policy->insert(a, 50);
    policy->insert(b, 1);
    policy->touch(a);
    policy->touch(a);
    return policy->evict();
  };
  CHECK(victim_after(false) == a);  // in M (via the ghost)
  CHECK(victim_after(true) == b);   // in S: the ghost forgot it
}

TEST_CASE("eviction resize: s3fifo's small share follows the budget") {
  // Budget 1000: S's share is 100, so an entry of 50 in S leaves evict() to
  // M. After a resize to 100 (share 10) the same state evicts from S.
  auto victim_after = [&](bool resize) {
    auto policy = make_policy(PolicyKind::s3fifo, 1000);
    policy->insert(1, 10);
    REQUIRE(policy->evict() == 1u);
    policy->insert(1, 10);  // into M via the ghost
    policy->insert(2, 50);  // into S
    if (resize) policy->resize(100);
    return policy->evict();
  };
  CHECK(victim_after(false) == 1u);
  CHECK(victim_after(true) == 2u);
}
