// Replays a trace through simulated zones: the very eviction policies
// (cache/eviction.hpp) and admission rules (cache/admission.hpp) a zone
// runs, with the zone's own accounting: entries charged in 4 KiB blocks,
// eviction once the bytes exceed the size, down to the store's low-water
// mark (cache/store.hpp), freshness by each record's lifetime.
//
// One Zone per simulation; replay_all runs them on threads, each over the
// same read-only requests.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "cache/admission.hpp"
#include "cache/eviction.hpp"
#include "lab/trace.hpp"

namespace gateway::lab {

struct Zone {
  cache::PolicySpec policy{};
  cache::AdmissionSpec admission{};
  std::uint64_t size = 0;  // bytes, at the full trace's scale
  std::string label{};       // how the user gave the size ("5%", "1GiB")
};

struct Counters {
  std::uint64_t requests = 0;
  std::uint64_t hits = 0;
  std::uint64_t bytes = 0;      // body bytes requested
  std::uint64_t hit_bytes = 0;  // ... served by hits
  double hit_ratio() const { return requests ? static_cast<double>(hits) / static_cast<double>(requests) : 0; }
  double byte_hit_ratio() const { return bytes ? static_cast<double>(hit_bytes) / static_cast<double>(bytes) : 0; }
};

struct ReplayResult {
  Zone zone;
  Counters total{};
  std::vector<Counters> routes{};  // by Trace::routes index
  std::uint64_t evictions = 0;
  double seconds = 0;            // wall time of this simulation
  double rate() const { return seconds > 0 ? static_cast<double>(total.requests) / seconds : 0; }
};

// One zone over `requests`. `sample_rate` is the fraction of keys the
// requests hold (a SHARDS-sampled trace): the zone is simulated at
// `sample_rate` times its size. `routes` is the number of route names.
ReplayResult replay(const std::vector<Request>& requests, const Zone& zone, double sample_rate = 1.0,
                    std::size_t routes = 0);

// Every zone, on up to `threads` threads (0: the machine's cores); results
// in the order of `zones`.
std::vector<ReplayResult> replay_all(const Trace& trace, const std::vector<Zone>& zones, unsigned threads = 0);

// Runs job(i) for i in [0, count) on up to `threads` threads.
void run_parallel(std::size_t count, unsigned threads, const std::function<void(std::size_t)>& job);

}  // namespace gateway::lab
