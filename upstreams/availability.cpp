#include "upstreams/availability.hpp"

#include <cassert>

namespace gateway::upstreams {

bool may_eject(std::size_t instances) noexcept { return instances > 1; }

bool in_panic(std::size_t instances, std::size_t out, int threshold_percent) noexcept {
  if (instances == 0 || threshold_percent <= 0) return false;
  if (out > instances) out = instances;
  // usable / instances < threshold / 100, without division.
  return (instances - out) * 100 < static_cast<std::size_t>(threshold_percent) * instances;
}

void exclude(std::span<const std::uint8_t> out, std::span<const std::uint8_t> tried, bool panic,
             std::span<std::uint8_t> excluded) noexcept {
  assert(out.size() == excluded.size() && tried.size() == excluded.size());
  const std::size_t n = excluded.size();
  bool keep_out = !panic;
  if (panic) {
    // A retry keeps away from out instances while a usable one is untried.
    bool retry = false, usable_left = false;
    for (std::size_t i = 0; i < n; ++i) {
      retry = retry || tried[i];
      usable_left = usable_left || (!tried[i] && !out[i]);
    }
    keep_out = retry && usable_left;
  }
  for (std::size_t i = 0; i < n; ++i) excluded[i] = tried[i] || (keep_out && out[i]);
}

}  // namespace gateway::upstreams
