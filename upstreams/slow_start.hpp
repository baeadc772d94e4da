// Slow start (HAProxy's slowstart, Envoy's slow_start_config): an instance
// that joins a group or comes back (from ejection, or from down by its
// probe) gets an effective weight that ramps linearly from a floor to its
// own weight over the group's `slow_start` period, so a cold instance is not
// handed its full share at once.
//
// ramp_weight is pure (table tests in tests/unit/upstreams/slow_start_test.cpp);
// the two functions below it read a Group's atomics.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>

#include "base/deadline.hpp"
#include "base/units.hpp"

namespace gateway::upstreams {

class Group;

// Effective weights are on this scale: weight w at full strength is
// w * kWeightScale, so that a weight of 1 can still ramp in small steps.
constexpr int kWeightScale = 1000;
// Where the ramp starts, in percent of the weight (Envoy's
// min_weight_percent default).
constexpr int kSlowStartFloorPercent = 10;

// The effective weight (on kWeightScale) of an instance of `weight` that
// became usable `since` ago: the floor at 0 (and before, for an instance
// that is not back yet but is tried in panic), its full weight from
// `period` on, linear in between. period 0: no ramp.
int ramp_weight(int weight, std::chrono::nanoseconds since, Duration period) noexcept;

// Fills out[i] (group size) with the effective weights at `now`; returns
// whether any instance is still ramping up (when none is, the balancer is
// given no weights and works as without slow start).
bool slow_start_weights(const Group& group, Clock::time_point now, std::span<int> out) noexcept;

// When an instance at `address` in a group being built from `previous`
// became usable (steady ns, as InstanceState::usable_since): the previous
// group's instance at that address keeps its own; a new one joins `now`.
// A group without a previous one (the first load) starts usable long ago:
// no ramp at start-up, where every instance would ramp alike anyway.
std::int64_t joined_at(const Group* previous, const Endpoint& address, Clock::time_point now) noexcept;

}  // namespace gateway::upstreams
