// Which instances of an upstream group a request may go to, given what the
// group knows of their health: passive ejection (nginx's max_fails /
// fail_timeout), active probe verdicts (health:), the group's size and its
// panic threshold (Envoy's healthy panic threshold).
//
// Pure functions of their arguments, as Balancer::pick is: no clock, no
// atomics, no I/O. Group (group.hpp) gathers the facts from its atomics on
// the worker that picks; the proxy (gateway/proxy.cpp) hands the answer to
// the balancer.
//
// An instance is "out" when it is ejected by failures or down by its probe:
// both say "do not send here", and both count toward panic. The rules:
// - a group of one never ejects its instance on failures (nginx never marks
//   the only server of a group down): ejecting it turns every request for
//   fail_timeout into a certain 503, where trying costs at worst the 502
//   the failure gave anyway;
// - when too few instances are usable the group is in panic and balances
//   over every instance, out or not (Envoy): a certain 503, or the whole
//   load on the few that are left, is worse than some failed attempts;
// - in panic a retry still goes first to an instance that is not out: the
//   first attempt spreads the load, the second chance goes where success
//   is likeliest.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace gateway::upstreams {

// Whether failures may eject an instance of a group of `instances`: not
// when it is the only one. Its failures are still counted.
bool may_eject(std::size_t instances) noexcept;

// Whether a group of `instances` with `out` of them out is in panic: the
// share of usable instances is below `threshold_percent` (Envoy's
// healthy_panic_threshold). At the default 50 %: more than half are out,
// so a group of one or two whose instances are all out, a group of three
// with two out. 0 turns panic off; 100 means panic as soon as one is out.
// An empty group is never in panic.
bool in_panic(std::size_t instances, std::size_t out, int threshold_percent) noexcept;

// Fills excluded[i]: whether the request's next attempt must not go to
// instance i. out[i]: ejected or down by its probe. tried[i]: this request
// already tried it. All three spans have the group's size.
// - Not in panic: excluded if tried or out.
// - In panic, first attempt (nothing tried): only tried ones are excluded,
//   which is none: the balancer spreads over every instance.
// - In panic, a retry: excluded if tried or out while some instance is
//   neither; once every untried instance is out, only the tried ones.
// Nothing excluded is left untried: a request never goes twice to one
// instance.
void exclude(std::span<const std::uint8_t> out, std::span<const std::uint8_t> tried, bool panic,
             std::span<std::uint8_t> excluded) noexcept;

}  // namespace gateway::upstreams
