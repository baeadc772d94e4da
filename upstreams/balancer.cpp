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
    case Balance::p2c: return "p2c";
  }
  return "?";
}

Balancer::Balancer(Balance kind, std::vector<int> weights, std::size_t first)
    : kind_(kind),
      weights_(std::move(weights)),
      current_(weights_.size(), 0),
      next_(weights_.empty() ? 0 : first % weights_.size()),
      random_(0x9e3779b97f4a7c15ULL * (first + 1)) {
  if (kind_ == Balance::hash) {
    for (std::size_t i = 0; i < weights_.size(); ++i)
      for (int p = 0; p < kRingPointsPerWeight * weights_[i]; ++p)
        ring_.emplace_back(mix64(fnv1a(std::to_string(i) + "-" + std::to_string(p))), static_cast<int>(i));
    std::sort(ring_.begin(), ring_.end());
  }
}

int Balancer::pick(std::span<const std::uint8_t> excluded, std::span<const int> active, std::uint64_t hash,
                   std::span<const int> weights) {
  assert(excluded.size() == weights_.size());
  assert(weights.empty() || weights.size() == weights_.size());
  const std::span<const int> w = weights.empty() ? std::span<const int>(weights_) : weights;
  switch (kind_) {
    case Balance::round_robin: return weights.empty() ? pick_round_robin(excluded) : pick_weighted(excluded, w);
    case Balance::weighted: return pick_weighted(excluded, w);
    case Balance::least_conn: return pick_least_conn(excluded, active, w);
    case Balance::p2c: return pick_p2c(excluded, active, w);
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
int Balancer::pick_weighted(std::span<const std::uint8_t> excluded, std::span<const int> weights) {
  int best = -1;
  int total = 0;
  for (std::size_t i = 0; i < weights_.size(); ++i) {
    if (excluded[i]) continue;
    current_[i] += weights[i];
    total += weights[i];
    if (best < 0 || current_[i] > current_[best]) best = static_cast<int>(i);
  }
  if (best >= 0) current_[best] -= total;
  return best;
}

namespace {
// Whether a in flight at weight w is less loaded than b at weight v:
// a/w < b/v, without division.
bool less_loaded(int a, int w, int b, int v) noexcept {
  return static_cast<long long>(a) * v < static_cast<long long>(b) * w;
}
int at(std::span<const int> active, std::size_t i) noexcept { return active.empty() ? 0 : active[i]; }
}  // namespace

// Fewest in-flight requests relative to weight; ties go round robin among
// the tied (as nginx) so that an idle group still spreads.
int Balancer::pick_least_conn(std::span<const std::uint8_t> excluded, std::span<const int> active,
                              std::span<const int> weights) {
  const std::size_t n = weights_.size();
  int best = -1;
  for (std::size_t k = 0; k < n; ++k) {
    std::size_t i = (next_ + k) % n;
    if (excluded[i]) continue;
    auto b = static_cast<std::size_t>(best);
    if (best < 0 || less_loaded(at(active, i), weights[i], at(active, b), weights[b])) best = static_cast<int>(i);
  }
  if (best >= 0) next_ = static_cast<std::size_t>(best) + 1;
  return best;
}

// splitmix64: a cheap generator, one per balancer (so per worker), seeded
// from the worker's index; the same seed gives the same picks.
std::uint64_t Balancer::next_random() noexcept {
  std::uint64_t z = (random_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Power of two choices (Envoy's least_request): two distinct instances at
// random among those allowed; the one with fewer in-flight requests
// relative to its weight wins (a tie: the first drawn). Unlike least_conn
// it does not send a burst to the one least loaded instance that every
// worker sees at once.
int Balancer::pick_p2c(std::span<const std::uint8_t> excluded, std::span<const int> active,
                       std::span<const int> weights) {
  const std::size_t n = weights_.size();
  std::size_t allowed = 0;
  for (std::size_t i = 0; i < n; ++i) allowed += !excluded[i];
  if (allowed == 0) return -1;
  // The k-th allowed instance.
  auto nth = [&](std::size_t k) {
    for (std::size_t i = 0; i < n; ++i)
      if (!excluded[i] && k-- == 0) return i;
    return n;  // not reached
  };
  if (allowed == 1) return static_cast<int>(nth(0));
  std::size_t r1 = next_random() % allowed;
  std::size_t r2 = next_random() % (allowed - 1);
  if (r2 >= r1) ++r2;
  std::size_t a = nth(r1), b = nth(r2);
  return static_cast<int>(less_loaded(at(active, b), weights[b], at(active, a), weights[a]) ? b : a);
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
