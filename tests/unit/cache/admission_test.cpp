// Tests for cache/admission: none, min_uses:N (nginx's proxy_cache_min_uses
// with a bounded key memory) and tinylfu, on hand-worked sequences.
#include "cache/admission.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

using gateway::cache::Admission;
using gateway::cache::AdmissionKind;
using gateway::cache::AdmissionRoom;
using gateway::cache::AdmissionSpec;
using gateway::cache::make_admission;
using gateway::cache::min_uses_capacity;

namespace {
constexpr std::uint64_t k1 = 0x1111, k2 = 0x2222, k3 = 0x3333;
constexpr std::uint64_t kMiB = 1 << 20;

std::unique_ptr<Admission> min_uses(unsigned n, std::uint64_t capacity = 64 * kMiB) {
  return make_admission(AdmissionSpec{AdmissionKind::min_uses, n}, capacity);
}
}  // namespace

TEST_SUITE_BEGIN("admission");

TEST_CASE("admission: none admits everything") {
  auto none = make_admission(AdmissionSpec{}, 0);
  CHECK(none->admit(k1));
  none->seen(k1);
  CHECK(none->admit(k1, AdmissionRoom{true, k2}));
}

TEST_CASE("admission: min_uses counts this request and the ones before") {
  // Each row: the admission after the n-th request of one key.
  struct Row {
    unsigned min_uses;
    std::vector<bool> after;  // admit() after request 1, 2, 3, ...
  };
  const Row rows[] = {
      {1, {true, true, true}},
      {2, {false, true, true}},
      {3, {false, false, true, true}},
      {64, std::vector<bool>(63, false)},
  };
  for (const auto& row : rows) {
    CAPTURE(row.min_uses);
    auto adm = min_uses(row.min_uses);
    for (std::size_t i = 0; i < row.after.size(); ++i) {
      CAPTURE(i + 1);
      adm->seen(k1);
      CHECK(adm->admit(k1) == row.after[i]);
    }
  }
}

TEST_CASE("admission: min_uses counts each key apart and ignores the room") {
  auto adm = min_uses(2);
  CHECK(min_uses(1)->admit(k3));  // 1: stored at once, even never seen
  CHECK_FALSE(adm->admit(k1));    // never requested
  adm->seen(k1);
  adm->seen(k2);
  CHECK_FALSE(adm->admit(k1));
  CHECK_FALSE(adm->admit(k2, AdmissionRoom{false, std::nullopt}));  // room does not matter
  adm->seen(k1);
  CHECK(adm->admit(k1));
  CHECK_FALSE(adm->admit(k2));
  CHECK(adm->admit(k1));  // a stored key keeps its count
}

TEST_CASE("admission: min_uses forgets the least recently requested key first") {
  const std::uint64_t bound = min_uses_capacity(0);
  CHECK(bound == 1024);
  CHECK(min_uses_capacity(64 * kMiB) == 16384);  // one key per 4 KiB block
  auto adm = min_uses(2, 0);
  adm->seen(k1);
  adm->seen(k2);
  // bound - 1 other keys: k1 and k2 are still counted (bound keys in all).
  for (std::uint64_t i = 0; i < bound - 2; ++i) adm->seen(100 + i);
  adm->seen(k1);  // k1 is now the most recent, k2 the least
  adm->seen(100'000);  // one key too many: k2 is forgotten
  CHECK(adm->admit(k1));
  adm->seen(k2);  // counted from 1 again
  CHECK_FALSE(adm->admit(k2));
  adm->seen(k2);
  CHECK(adm->admit(k2));
}

TEST_CASE("admission: tinylfu admits while there is room, then by frequency against the victim") {
  auto lfu = make_admission(AdmissionSpec{AdmissionKind::tinylfu}, 4 * kMiB);  // 1,024 entries
  for (int i = 0; i < 3; ++i) lfu->seen(k1);  // estimate 3: the doorkeeper and 2 in the sketch
  lfu->seen(k2);                              // estimate 1: the doorkeeper only
  CHECK(lfu->admit(k3, AdmissionRoom{false, k1}));  // room: never seen is fine
  CHECK_FALSE(lfu->admit(k2, AdmissionRoom{true, k1}));  // 1 > 3: no
  CHECK(lfu->admit(k1, AdmissionRoom{true, k2}));         // 3 > 1: yes
  CHECK_FALSE(lfu->admit(k3, AdmissionRoom{true, k2}));  // 0 > 1: no
  lfu->seen(k3);
  CHECK_FALSE(lfu->admit(k3, AdmissionRoom{true, k2}));  // 1 > 1: no, a tie keeps the victim
  lfu->seen(k3);
  CHECK(lfu->admit(k3, AdmissionRoom{true, k2}));  // 2 > 1
  // No victim known: requested at least once before this request.
  CHECK(lfu->admit(k1));
  CHECK_FALSE(lfu->admit(k2));
  CHECK(lfu->admit(k3, AdmissionRoom{true, std::nullopt}));
}

TEST_CASE("admission: tinylfu halves its counts every 10 x expected entries requests") {
  // 4 MiB: 1,024 expected entries, a window of 10,240 requests.
  auto lfu = make_admission(AdmissionSpec{AdmissionKind::tinylfu}, 4 * kMiB);
  for (int i = 0; i < 5; ++i) lfu->seen(k1);  // estimate 5 (doorkeeper + 4)
  for (int i = 0; i < 3; ++i) lfu->seen(k3);  // estimate 3
  CHECK_FALSE(lfu->admit(k3, AdmissionRoom{true, k1}));
  // The 10,240th request resets: k1's counters 4 -> 2, k3's 2 -> 1, the
  // doorkeeper cleared (k2's own counters saturate at 15, then 7).
  for (int i = 0; i < 10'240 - 8; ++i) lfu->seen(k2);
  // k1: 2, k3: 1. Two more requests of k3: the doorkeeper, then its counter.
  lfu->seen(k3);
  CHECK_FALSE(lfu->admit(k3, AdmissionRoom{true, k1}));  // 1 + 1 = 2 > 2: no
  lfu->seen(k3);
  CHECK(lfu->admit(k3, AdmissionRoom{true, k1}));  // 2 + 1 = 3 > 2
  CHECK(lfu->admit(k2, AdmissionRoom{true, k1}));  // 7 > 2
}

TEST_SUITE_END();
