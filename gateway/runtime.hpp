// What a configuration becomes when applied: the Runtime (shared by all
// workers, immutable) and each worker's WorkerState (its pools, balancers and
// counter pointers for that Runtime).
//
// SIGHUP builds a new Runtime on the main thread and posts it to every
// worker; a request in flight keeps the WorkerState it started with through
// a shared_ptr, so it finishes on the old configuration.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cache/zone.hpp"
#include "gateway/access_log.hpp"
#include "gateway/config.hpp"
#include "base/http/parser.hpp"
#include "gateway/metrics.hpp"
#include "gateway/rate_limit.hpp"
#include "gateway/router.hpp"
#include "upstreams/group.hpp"

namespace gateway {

struct Runtime {
  std::shared_ptr<const Config> config;
  Router router;
  std::vector<std::shared_ptr<upstreams::Group>> groups;  // by Config::upstreams index
  std::vector<std::shared_ptr<cache::Zone>> zones;        // by Config::caches index
  http::ParserLimits request_limits;
  http::ParserLimits response_limits;
  std::shared_ptr<AccessLogSink> access_log;
  std::vector<std::shared_ptr<limit::RateLimiter>> limiters;  // by route index; null: no `limit` (rate_limit.hpp)

  // Null with `error` set if something outside the file's syntax fails
  // (an access log that cannot be opened).
  static std::shared_ptr<const Runtime> build(std::shared_ptr<const Config> config, const Runtime* previous,
                                              std::string& error);
};

struct WorkerState : std::enable_shared_from_this<WorkerState> {
  std::shared_ptr<const Runtime> runtime;
  std::vector<std::unique_ptr<upstreams::Pool>> pools;  // by upstream index
  std::vector<RouteStats*> route_stats;                 // by route index
  std::vector<UpstreamStats*> upstream_stats;           // by upstream index
  std::vector<ZoneStats*> zone_stats;                   // by zone index

  // `previous`: this worker's state being replaced; idle keep-alive
  // connections of groups of the same name move to the new pools.
  WorkerState(std::shared_ptr<const Runtime> rt, WorkerMetrics& metrics, std::size_t worker,
              WorkerState* previous = nullptr);
};

}  // namespace gateway
