// The cache's clock: the wall clock in whole seconds since the Unix epoch,
// what HTTP dates, ages and entry times count in. The one place the cache
// and its server glue read the time; the decisions in policy.hpp take `now`
// instead. Callable from any thread.
#pragma once

#include <ctime>

#include "cache/policy.hpp"

namespace gateway::cache {

inline Seconds now_seconds() { return static_cast<Seconds>(std::time(nullptr)); }

}  // namespace gateway::cache
