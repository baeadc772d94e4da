// Choosing an instance of an upstream group: round robin, smooth weighted
// round robin (nginx's algorithm), least connections, power of two choices
// (Envoy's least_request) and consistent hashing.
//
// Pure logic. One Balancer per worker per group, used only by that worker's
// thread: the hot path shares nothing, and per-worker round robin still
// spreads evenly because each worker's share is spread evenly.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "upstreams/config.hpp"
#include "base/hash.hpp"

namespace gateway::upstreams {

// The name the configuration gives the kind (`balance: least_conn`), for
// /status.
const char* to_string(Balance kind) noexcept;

class Balancer {
 public:
  // `first`: where round robin starts. Each worker starts at its own
  // index, so that the first requests of a process, spread over the
  // workers, do not all go to instance 0.
  Balancer(Balance kind, std::vector<int> weights, std::size_t first = 0);

  // Index of the instance to try, skipping those with excluded[i] set
  // (unhealthy, already tried for this request, or full); -1 if none is
  // left. `active` (in-flight requests per instance, over all workers) is
  // used by least_conn and p2c; `hash` (of the request URI) by hash.
  // `weights`: the effective weights while some instance ramps up
  // (slow_start.hpp), all on one scale; empty: the configured ones. With
  // them round robin becomes weighted; hash ignores them.
  int pick(std::span<const std::uint8_t> excluded, std::span<const int> active = {}, std::uint64_t hash = 0,
           std::span<const int> weights = {});

  std::size_t size() const noexcept { return weights_.size(); }

 private:
  int pick_round_robin(std::span<const std::uint8_t> excluded);
  int pick_weighted(std::span<const std::uint8_t> excluded, std::span<const int> weights);
  int pick_least_conn(std::span<const std::uint8_t> excluded, std::span<const int> active,
                      std::span<const int> weights);
  int pick_p2c(std::span<const std::uint8_t> excluded, std::span<const int> active, std::span<const int> weights);
  int pick_hash(std::span<const std::uint8_t> excluded, std::uint64_t hash);
  std::uint64_t next_random() noexcept;

  Balance kind_;
  std::vector<int> weights_;
  std::vector<int> current_;  // smooth weighted: current weights
  std::size_t next_;          // round robin position
  std::uint64_t random_;      // p2c: splitmix64 state, seeded per worker
  // Consistent hash ring: (point, instance), sorted by point.
  std::vector<std::pair<std::uint64_t, int>> ring_;
};


}  // namespace gateway::upstreams
