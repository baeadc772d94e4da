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

#include <memory>

#include "cache/config.hpp"
#include "cache/fill.hpp"
#include "cache/shared_tier.hpp"
#include "cache/store.hpp"

namespace gateway::cache {

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
  bool reconfigure(const ZoneConfig& next);

  // The fast path of fresh hits (fast_hit_request): a fresh entry with its
  // body in the RAM tier for `req`, or null. A lookup like any other: it
  // counts as a use of the entry (and as a request for admission when it
  // returns the entry).
  std::shared_ptr<const Entry> fresh_memory_hit(const http::Request& req, const RuleConfig& rule, Seconds now);
};

// The options of a zone's store.
StoreOptions store_options(const ZoneConfig& config);

}  // namespace gateway::cache
