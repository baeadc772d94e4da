#include "upstreams/balancer.hpp"

#include <algorithm>
#include <cassert>
#include <string>

namespace gateway::upstreams {

namespace {
constexpr int kRingPointsPerWeight = 160;  // as ketama
}  // namespace

const char* to_string(Balance kind) noexcept {
  switch (kind) {
    case Balance::round_robin: return "round_robin";
    case Balance::weighted: return "weighted";
    case Balance::least_conn: return "least_conn";
    case Balance::hash: return "hash";
  }
  return "?";
}

Balancer::Balancer(Balance kind, std::vector<int> weights, std::size_t first)
    : kind_(kind),
      weights_(std::move(weights)),
      current_(weights_.size(), 0),
      next_(weights_.empty() ? 0 : first % weights_.size()) {
  if (kind_ == Balance::hash) {
    for (std::size_t i = 0; i < weights_.size(); ++i)
      for (int p = 0; p < kRingPointsPerWeight * weights_[i]; ++p)
        ring_.emplace_back(mix64(fnv1a(std::to_string(i) + "-" + std::to_string(p))), static_cast<int>(i));
    std::sort(ring_.begin(), ring_.end());
  }
}

int Balancer::pick(std::span<const std::uint8_t> excluded, std::span<const int> active, std::uint64_t hash) {
  assert(excluded.size() == weights_.size());
  switch (kind_) {
    case Balance::round_robin: return pick_round_robin(excluded);
    case Balance::weighted: return pick_weighted(excluded);
    case Balance::least_conn: return pick_least_conn(excluded, active);
    case Balance::hash: return pick_hash(excluded, hash);
  }
  return -1;
}

int Balancer::pick_round_robin(std::span<const std::uint8_t> excluded) {
  const std::size_t n = weights_.size();
  for (std::size_t k = 0; k < n; ++k) {
    std::size_t i = (next_ + k) % n;
    if (!excluded[i]) {
      next_ = i + 1;
      return static_cast<int>(i);
    }
  }
  return -1;
}

// nginx's smooth weighted round robin: every pick adds each weight to its
// instance's current weight, takes the largest, and subtracts the total from
// it. Weights 5:1:1 give a a b a c a a, not a a a a a b c.
int Balancer::pick_weighted(std::span<const std::uint8_t> excluded) {
  int best = -1;
  int total = 0;
  for (std::size_t i = 0; i < weights_.size(); ++i) {
    if (excluded[i]) continue;
    current_[i] += weights_[i];
    total += weights_[i];
    if (best < 0 || current_[i] > current_[best]) best = static_cast<int>(i);
  }
  if (best >= 0) current_[best] -= total;
  return best;
}

// Fewest in-flight requests relative to weight; ties go round robin so
// that an idle group still spreads.
int Balancer::pick_least_conn(std::span<const std::uint8_t> excluded, std::span<const int> active) {
  const std::size_t n = weights_.size();
  int best = -1;
  for (std::size_t k = 0; k < n; ++k) {
    std::size_t i = (next_ + k) % n;
    if (excluded[i]) continue;
    int a = active.empty() ? 0 : active[i];
    // a/w < b/v  <=>  a*v < b*w
    if (best < 0 || static_cast<long>(a) * weights_[best] <
                        static_cast<long>(active.empty() ? 0 : active[best]) * weights_[i])
      best = static_cast<int>(i);
  }
  if (best >= 0) next_ = static_cast<std::size_t>(best) + 1;
  return best;
}

// Consistent hashing: the first ring point at or after the key's hash whose
// instance is not excluded. Removing an instance moves only its own keys.
int Balancer::pick_hash(std::span<const std::uint8_t> excluded, std::uint64_t hash) {
  if (ring_.empty()) return -1;
  std::uint64_t h = mix64(hash);
  auto it = std::lower_bound(ring_.begin(), ring_.end(), std::make_pair(h, -1));
  for (std::size_t k = 0; k < ring_.size(); ++k, ++it) {
    if (it == ring_.end()) it = ring_.begin();
    if (!excluded[it->second]) return it->second;
  }
  return -1;
}

}  // namespace gateway::upstreams
