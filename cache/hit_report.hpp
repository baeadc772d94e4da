// A zone's hit-rate report (the admin API's GET /cache/report): requests,
// hits and their bytes per zone and per route over the last minute (60
// one-second buckets) and the last hour (60 one-minute buckets), and the
// keys the cache helps least: the top keys by misses and by body bytes
// fetched from the upstream, counted with Space-Saving (Metwally et al.,
// ICDT 2005) in bounded memory.
//
// A hit is a response served from a stored entry: HIT, STALE, UPDATING and
// REVALIDATED (a 304 from the upstream, the body from the cache). MISS and
// EXPIRED are misses, and count for the top keys; BYPASS counts as a request
// that is neither.
//
// Pure but for the mutex: the time is the caller's (seconds), so the
// windows are tested with an injected clock. Threads: HitReport from any.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cache/policy.hpp"

namespace gateway::cache {

struct HitCounts {
  std::uint64_t requests = 0;
  std::uint64_t hits = 0;
  std::uint64_t bytes = 0;      // body bytes sent
  std::uint64_t hit_bytes = 0;  // ... of them from the cache
  HitCounts& operator+=(const HitCounts& o) noexcept {
    requests += o.requests;
    hits += o.hits;
    bytes += o.bytes;
    hit_bytes += o.hit_bytes;
    return *this;
  }
  bool operator==(const HitCounts&) const = default;
};

// Whether a response with this status was served from the cache.
constexpr bool served_from_cache(CacheStatus s) noexcept {
  return s == CacheStatus::hit || s == CacheStatus::stale || s == CacheStatus::updating ||
         s == CacheStatus::revalidated;
}
constexpr bool is_miss(CacheStatus s) noexcept { return s == CacheStatus::miss || s == CacheStatus::expired; }

// Counts over the last `buckets` x `width` seconds, in a ring of buckets
// each stamped with its period (so an idle stretch needs no clearing).
class HitWindow {
 public:
  HitWindow(std::size_t buckets, std::int64_t width) : width_(width), ring_(buckets) {}
  void add(std::int64_t now, const HitCounts& c);
  // The buckets of the last buckets x width seconds up to `now`, the
  // current (partial) one included.
  HitCounts total(std::int64_t now) const;

 private:
  struct Bucket {
    std::int64_t period = -1;
    HitCounts counts;
  };
  std::int64_t width_;
  std::vector<Bucket> ring_;
};

// Space-Saving: the heaviest keys of a weighted stream in `capacity`
// counters. A key's count is at most its error above its true weight; any
// key heavier than total/capacity is in the table.
class TopKeys {
 public:
  explicit TopKeys(std::size_t capacity, std::size_t max_key = 1024);
  void add(std::string_view key, std::uint64_t weight);
  struct Item {
    std::string key;
    std::uint64_t count = 0;
    std::uint64_t error = 0;  // count - error <= the key's true weight <= count
  };
  // The k largest counts, largest first (ties by key).
  std::vector<Item> top(std::size_t k) const;

 private:
  std::size_t capacity_;
  std::size_t max_key_;  // longer keys are cut (the report shows them cut)
  // Looked up by string_view: a key already counted costs no allocation.
  struct KeyHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view k) const noexcept { return std::hash<std::string_view>{}(k); }
  };
  std::vector<Item> items_;
  std::unordered_map<std::string, std::size_t, KeyHash, std::equal_to<>> index_;
};

// One request as the report sees it.
struct HitEvent {
  std::int64_t now = 0;  // seconds
  std::string_view route;
  std::string_view key;  // the cache key; empty for a bypass
  CacheStatus status = CacheStatus::miss;
  std::uint64_t body = 0;     // body bytes sent
  std::uint64_t fetched = 0;  // body bytes fetched from the upstream for it
};

struct HitPeriods {
  HitCounts minute;
  HitCounts hour;
};

struct HitReportView {
  HitPeriods zone;
  std::vector<std::pair<std::string, HitPeriods>> routes;  // by name
  std::vector<TopKeys::Item> top_misses;
  std::vector<TopKeys::Item> top_fetched;
};

class HitReport {
 public:
  static constexpr std::size_t kTop = 20;
  static constexpr std::size_t kCounters = 256;  // per top list

  HitReport() : misses_(kCounters), fetched_(kCounters) {}
  void add(const HitEvent& e);
  HitReportView view(std::int64_t now, std::size_t k = kTop) const;

 private:
  struct Windows {
    HitWindow minute{60, 1};
    HitWindow hour{60, 60};
    void add(std::int64_t now, const HitCounts& c) {
      minute.add(now, c);
      hour.add(now, c);
    }
    HitPeriods at(std::int64_t now) const { return {minute.total(now), hour.total(now)}; }
  };
  mutable std::mutex mu_;
  Windows zone_;
  std::vector<std::pair<std::string, Windows>> routes_;  // a few: searched in order
  TopKeys misses_;
  TopKeys fetched_;
};

}  // namespace gateway::cache
