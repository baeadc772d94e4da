// A cache zone (`caches:` in the configuration): its store, its table of
// in-flight fills and, with `redis:`, the fleet's shared tier, all built from
// its ZoneConfig. The gateway's Runtime holds the zones; a zone is shared by
// all workers and kept across reloads while its path stays the same.
//
// Threads: built on the main thread (the store's background thread starts
// with it), then used from every worker; the store, the fill table and the
// shared tier each say how they are shared (store.hpp, fill.hpp,
// shared_tier.hpp). The order in which a request asks them is
// tiered_lookup.hpp's.
#pragma once

#include <atomic>
#include <memory>
#include <vector>

#include "cache/config.hpp"
#include "cache/fill.hpp"
#include "cache/hit_report.hpp"
#include "cache/shared_tier.hpp"
#include "cache/store.hpp"
#include "cache/trace.hpp"

namespace gateway::cache {

// What one client exchange on a cached route did, at its end: for the
// zone's report and its trace.
struct Observation {
  std::string_view route;
  std::string_view key;    // the cache key (empty for a bypass with the trace off)
  CacheStatus status = CacheStatus::miss;
  std::uint64_t size = 0;     // bytes charged on disk, or the estimate for a response not stored
  std::uint64_t body = 0;     // body bytes sent
  std::uint64_t fetched = 0;  // body bytes fetched from the upstream
  std::uint32_t ttl = 0;      // freshness lifetime in seconds
  std::uint8_t flags = 0;     // kTraceStorable, kTraceStored
};

struct Zone {
  explicit Zone(const ZoneConfig& config);

  ZoneConfig config;
  Store store;
  FillTable fills;
  std::unique_ptr<SharedTier> tier;  // with `redis:`

  // A reload keeps this zone for a configuration `next` of the same path:
  // its store takes next's size, memory, memory_entry_max, policy and
  // inactive at once (Store::resize). `config` keeps what the zone was
  // built with (its name and path, the shared tier's settings): what
  // changes live is read from the running configuration. True if the
  // store's limits changed.
  // The trace also follows `next` (started, stopped, or restarted with
  // new settings); that alone does not count as a change of limits.
  bool reconfigure(const ZoneConfig& next);

  // At the end of each client exchange on the zone (any worker): the
  // report counts it, the trace (if on) records it.
  void observe(const Observation& o);
  HitReport report;
  // The running trace, or null. Replaced writers are closed but kept: a
  // worker may still hold the pointer.
  TraceWriter* trace() const noexcept { return trace_.load(std::memory_order_acquire); }
  // SIGUSR1: the trace reopens its file if it was moved away.
  void reopen_trace();

  // The fast path of fresh hits (fast_hit_request): a fresh entry with its
  // body in the RAM tier for `req`, or null. A lookup like any other: it
  // counts as a use of the entry (and as a request for admission when it
  // returns the entry).
  std::shared_ptr<const Entry> fresh_memory_hit(const http::Request& req, const RuleConfig& rule, Seconds now);

 private:
  void set_trace(const std::optional<TraceConfig>& config);
  std::atomic<TraceWriter*> trace_{nullptr};
  std::vector<std::unique_ptr<TraceWriter>> traces_;  // the running one last; replaced ones closed
};

// The options of a zone's store.
StoreOptions store_options(const ZoneConfig& config);

}  // namespace gateway::cache
