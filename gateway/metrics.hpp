// Per-worker counters, summed when /metrics or /status is read (the text of
// /metrics is written by prometheus.hpp).
//
// Each counter has one writer (its worker), so an increment is a relaxed
// load and store: no locked instruction, no shared cache line on the hot
// path. Readers on other threads see values at most slightly stale.
// The maps from names to counters change only when a configuration is
// applied, under the mutex; counters live as long as the worker, so they
// survive reloads.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cache/policy.hpp"
#include "upstreams/group.hpp"

namespace gateway {

struct Counter {
  std::atomic<std::uint64_t> v{0};
  void inc(std::uint64_t n = 1) noexcept { v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  void dec() noexcept { v.store(v.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed); }
  std::uint64_t get() const noexcept { return v.load(std::memory_order_relaxed); }
};

class Histogram {
 public:
  static constexpr std::array<double, 12> kBounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                     0.1,   0.25,   0.5,   1,    2.5,   5};
  void observe(std::chrono::microseconds d) noexcept;
  std::array<Counter, kBounds.size() + 1> buckets;  // last: +Inf
  Counter sum_us;
  Counter count;
};

// What the cache did for a response (the X-Cache header): cache/policy.hpp.
using cache::CacheStatus;
using cache::kCacheStatuses;
using cache::kCacheStatusNames;

struct RouteStats {
  std::array<Counter, 5> by_class;  // 1xx .. 5xx
  std::array<Counter, kCacheStatuses> cache;
  // Page and aggregate routes: what became of their fragments.
  Counter fragment_hits;       // served from the cache
  Counter fragment_misses;     // fetched from upstream
  Counter fragment_timeouts;
  Counter fragment_errors;
  Counter fragment_fallbacks;  // replaced by a fallback (or left out)
  std::array<Counter, 2> access_denied;  // refused by access control: address, auth (gateway/access.hpp)
  std::array<Counter, 3> limit;  // `limit:` (gateway/rate_limit.hpp): passed, delayed, rejected
};

struct ZoneStats {
  std::array<Counter, kCacheStatuses> cache;
  Counter coalesced;           // requests that followed another's fill
  Counter background_updates;  // stale-while-revalidate refreshes started
};

struct UpstreamStats {
  Histogram response_time;
  upstreams::PoolStats pool;
  Counter errors;    // 502/504 produced by this gateway
  Counter retries;
  Counter panic_requests;  // balanced while the group was in panic
};

// A TLS listener's handshakes (by its address).
struct TlsStats {
  Counter handshakes_ok;
  Counter handshakes_failed;  // refused, broken off or timed out
  Counter resumed;            // of the ok ones: a session resumed
  Counter tls12;              // of the ok ones, by version
  Counter tls13;
};

// HTTP/2 client connections (gateway/h2/): streams, and why connections
// were sent a GOAWAY.
struct Http2Stats {
  enum Reason { kDrain, kIdle, kRapidReset, kContinuationFlood, kControlFlood, kProtocolError, kReasons };
  static constexpr std::array<const char*, kReasons> kReasonNames = {
      "drain", "idle", "rapid_reset", "continuation_flood", "control_flood", "protocol_error"};
  Counter connections;
  Counter streams;
  Counter streams_refused;  // over max_concurrent_streams
  Counter streams_reset;    // reset by the client
  std::array<Counter, kReasons> goaway;
};

class WorkerMetrics {
 public:
  RouteStats& route(const std::string& name);
  UpstreamStats& upstream(const std::string& name);
  ZoneStats& zone(const std::string& name);
  TlsStats& tls(const std::string& listener);

  Counter connections_active;  // gauge
  Counter connections_parked;  // gauge: idle keep-alive ones, parked (gateway/parked.hpp)
  Counter connections_total;
  Counter requests_total;
  Counter bad_requests;        // refused before routing (4xx from the parser)
  Http2Stats http2;
  Counter proxy_protocol_rejected;  // connections closed for a missing or bad PROXY header
  Counter connections_refused_per_client;  // over max_conns_per_client (gateway/rate_limit.hpp)
  // Upgraded connections (WebSocket): gateway/tunnel.hpp.
  Counter tunnels_active;  // gauge
  Counter tunnels_total;
  Counter tunnel_bytes_from_clients;
  Counter tunnel_bytes_to_clients;
  std::array<Counter, 5> tunnel_ends;  // by Tunnel::End

  // For readers: visit every route / upstream counter set.
  template <class F>
  void for_each_route(F&& f) const {
    std::lock_guard lock(mu_);
    for (const auto& [name, s] : routes_) f(name, *s);
  }
  template <class F>
  void for_each_zone(F&& f) const {
    std::lock_guard lock(mu_);
    for (const auto& [name, s] : zones_) f(name, *s);
  }
  template <class F>
  void for_each_upstream(F&& f) const {
    std::lock_guard lock(mu_);
    for (const auto& [name, s] : upstreams_) f(name, *s);
  }
  template <class F>
  void for_each_tls(F&& f) const {
    std::lock_guard lock(mu_);
    for (const auto& [name, s] : tls_) f(name, *s);
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<RouteStats>> routes_;
  std::map<std::string, std::unique_ptr<UpstreamStats>> upstreams_;
  std::map<std::string, std::unique_ptr<ZoneStats>> zones_;
  std::map<std::string, std::unique_ptr<TlsStats>> tls_;
};

}  // namespace gateway
