#include "upstreams/slow_start.hpp"

#include <algorithm>
#include <cmath>

#include "upstreams/group.hpp"

namespace gateway::upstreams {

int ramp_weight(int weight, std::chrono::nanoseconds since, Duration period) noexcept {
  const long long full = static_cast<long long>(weight) * kWeightScale;
  if (period.count() <= 0 || since >= period) return static_cast<int>(full);
  const long long floor = std::max(1LL, full * kSlowStartFloorPercent / 100);
  if (since.count() <= 0) return static_cast<int>(floor);
  const auto p = std::chrono::duration_cast<std::chrono::nanoseconds>(period).count();
  // Linear from floor to full; long double: ns * weight overflows 64 bits.
  long double share = static_cast<long double>(since.count()) / static_cast<long double>(p);
  auto w = std::llround(static_cast<long double>(floor) + share * static_cast<long double>(full - floor));
  return static_cast<int>(std::clamp(w, floor, full));
}

bool slow_start_weights(const Group& group, Clock::time_point now, std::span<int> out) noexcept {
  const Duration period = group.config().slow_start;
  if (period.count() <= 0) return false;
  const auto now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch());
  bool ramping = false;
  for (std::size_t i = 0; i < group.size(); ++i) {
    const auto& s = group.instance(i);
    auto since = now_ns - std::chrono::nanoseconds(s.usable_since.load(std::memory_order_relaxed));
    out[i] = ramp_weight(s.weight.load(std::memory_order_relaxed), since, period);
    ramping = ramping || since < period;
  }
  return ramping;
}

std::int64_t joined_at(const Group* previous, const Endpoint& address, Clock::time_point now) noexcept {
  if (!previous) return 0;
  if (int i = previous->find(address.text); i >= 0)
    return previous->instance(static_cast<std::size_t>(i)).usable_since.load(std::memory_order_relaxed);
  return steady_ns(now);
}

}  // namespace gateway::upstreams
