// Admission rules (see admission.hpp): none, nginx's min_uses:N with a
// bounded key memory, and TinyLFU's frequency sketch with a doorkeeper.
#include "cache/admission.hpp"

#include <algorithm>
#include <bit>
#include <cassert>
#include <list>
#include <unordered_map>
#include <vector>

#include "base/hash.hpp"

namespace gateway::cache {
namespace {

constexpr std::uint64_t kAssumedEntry = 4096;  // one 4 KiB block: the smallest entry a zone charges

class AdmitAll final : public Admission {
 public:
  using Admission::admit;
  void seen(std::uint64_t) override {}
  bool admit(std::uint64_t) override { return true; }
};

// Exact request counts for the `capacity` most recently requested keys (a
// recency list and a map into it, ~80 bytes a key); the least recently
// requested key is forgotten first.
class MinUses final : public Admission {
 public:
  MinUses(unsigned min_uses, std::uint64_t capacity) : min_uses_(min_uses), capacity_(capacity) {}
  using Admission::admit;

  void seen(std::uint64_t key) override {
    if (min_uses_ <= 1) return;
    if (auto it = counts_.find(key); it != counts_.end()) {
      it->second.count = std::min(it->second.count + 1, min_uses_);
      recency_.splice(recency_.begin(), recency_, it->second.place);
      return;
    }
    recency_.push_front(key);
    counts_.emplace(key, Count{1, recency_.begin()});
    if (counts_.size() > capacity_) {
      counts_.erase(recency_.back());
      recency_.pop_back();
    }
  }

  bool admit(std::uint64_t key) override {
    if (min_uses_ <= 1) return true;
    auto it = counts_.find(key);
    return it != counts_.end() && it->second.count >= min_uses_;
  }

 private:
  struct Count {
    unsigned count;
    std::list<std::uint64_t>::iterator place;
  };
  const unsigned min_uses_;
  const std::uint64_t capacity_;
  std::list<std::uint64_t> recency_;  // front: most recently requested
  std::unordered_map<std::uint64_t, Count> counts_;
};

// TinyLFU: a Count-Min sketch of 4-bit counters (16 to a word), 4 rows of
// `width` counters (a power of two >= the expected entries), behind a
// doorkeeper Bloom filter of 2 hashes over W bits (about 10 per expected
// entry). A key's first request after a reset only sets its doorkeeper
// bits; later ones increment its 4 counters (saturating at 15). Every W =
// 10 x expected entries requests, all counters are halved and the
// doorkeeper cleared. estimate = min over the rows + 1 if in the doorkeeper.
class TinyLfu final : public Admission {
 public:
  explicit TinyLfu(std::uint64_t expected)
      : width_(std::bit_ceil(std::max<std::uint64_t>(expected, 16))),
        window_(10 * std::max<std::uint64_t>(expected, 16)),
        counters_(kRows * width_ / 16, 0),
        door_(std::bit_ceil(window_) / 64, 0) {}

  void seen(std::uint64_t key) override {
    if (!in_door(key)) {
      add_door(key);
    } else {
      for (unsigned row = 0; row < kRows; ++row) {
        const auto [word, shift] = slot(row, key);
        if (((counters_[word] >> shift) & 0xf) < 0xf) counters_[word] += std::uint64_t{1} << shift;
      }
    }
    if (++requests_ >= window_) reset();
  }

  bool admit(std::uint64_t key) override { return estimate(key) >= 2; }

  bool admit(std::uint64_t key, const AdmissionRoom& room) override {
    if (!room.full) return true;
    if (!room.victim) return admit(key);
    return estimate(key) > estimate(*room.victim);
  }

  unsigned estimate(std::uint64_t key) const {
    unsigned least = 0xf;
    for (unsigned row = 0; row < kRows; ++row) {
      const auto [word, shift] = slot(row, key);
      least = std::min<unsigned>(least, (counters_[word] >> shift) & 0xf);
    }
    return least + (in_door(key) ? 1 : 0);
  }

 private:
  static constexpr unsigned kRows = 4;
  static constexpr std::uint64_t kSeeds[kRows] = {0x9e3779b97f4a7c15ull, 0xc2b2ae3d27d4eb4full,
                                                   0x165667b19e3779f9ull, 0xd6e8feb86659fd93ull};

  std::pair<std::size_t, unsigned> slot(unsigned row, std::uint64_t key) const {
    const std::uint64_t index = mix64(key ^ kSeeds[row]) & (width_ - 1);
    const std::uint64_t counter = row * width_ + index;
    return {static_cast<std::size_t>(counter / 16), static_cast<unsigned>(counter % 16) * 4};
  }
  std::pair<std::uint64_t, std::uint64_t> door_bits(std::uint64_t key) const {
    const std::uint64_t mask = door_.size() * 64 - 1;
    const std::uint64_t h = mix64(key + kSeeds[0]);
    return {h & mask, (h >> 32) & mask};
  }
  bool in_door(std::uint64_t key) const {
    const auto [a, b] = door_bits(key);
    return ((door_[a / 64] >> (a % 64)) & 1) && ((door_[b / 64] >> (b % 64)) & 1);
  }
  void add_door(std::uint64_t key) {
    const auto [a, b] = door_bits(key);
    door_[a / 64] |= std::uint64_t{1} << (a % 64);
    door_[b / 64] |= std::uint64_t{1} << (b % 64);
  }
  void reset() {
    for (auto& w : counters_) w = (w >> 1) & 0x7777777777777777ull;
    std::fill(door_.begin(), door_.end(), 0);
    requests_ = 0;
  }

  const std::uint64_t width_;
  const std::uint64_t window_;
  std::vector<std::uint64_t> counters_;
  std::vector<std::uint64_t> door_;
  std::uint64_t requests_ = 0;
};

}  // namespace

std::uint64_t min_uses_capacity(std::uint64_t capacity_bytes) {
  return std::max<std::uint64_t>(capacity_bytes / kAssumedEntry, 1024);
}

std::unique_ptr<Admission> make_admission(const AdmissionSpec& spec, std::uint64_t capacity_bytes) {
  switch (spec.kind) {
    case AdmissionKind::none:
      return std::make_unique<AdmitAll>();
    case AdmissionKind::min_uses:
      return std::make_unique<MinUses>(spec.min_uses, min_uses_capacity(capacity_bytes));
    case AdmissionKind::tinylfu:
      return std::make_unique<TinyLfu>(capacity_bytes / kAssumedEntry);
  }
  assert(false && "unknown AdmissionKind");
  return nullptr;
}

}  // namespace gateway::cache
