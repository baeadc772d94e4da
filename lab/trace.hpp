// gateway-lab's in-memory trace: every request of one or more trace files
// (the gateway's own format, plain CSV or libCacheSim's oracleGeneral),
// read once into a flat vector so that each replay is a tight loop over it.
// Plain values; no I/O here (lab/trace_reader.* reads, lab/trace_writer.*
// writes).
#pragma once

#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace gateway::lab {

// A freshness lifetime that never ends (CSV without a ttl column,
// oracleGeneral): the entry stays fresh until evicted.
inline constexpr std::uint32_t kNoExpiry = std::numeric_limits<std::uint32_t>::max();
inline constexpr std::uint16_t kNoRoute = std::numeric_limits<std::uint16_t>::max();

struct Trace;

struct Request {
  std::uint64_t time_us = 0;
  std::uint64_t key = 0;    // 64-bit key hash (base/hash.hpp)
  std::uint32_t size = 0;   // bytes the entry is charged in the zone (4 KiB blocks)
  std::uint32_t body = 0;   // bytes served (the byte hit ratio counts these)
  std::uint32_t ttl = 0;    // freshness lifetime in seconds; 0: not storable
  std::uint16_t route = kNoRoute;  // index into Trace::routes
  bool storable = false;    // the gateway's trace flag (and ttl > 0)
};

struct Trace {
  std::vector<Request> requests{};
  std::vector<std::string> routes{};  // names, one table over all files read
  // Spatial sampling rate the trace was captured with (header sample / 2^24),
  // 1 for a full trace: the trace behaves as the full one would in a cache
  // `sample_rate` times the size.
  double sample_rate = 1.0;
};

// Bad input or arguments: the message names the place (file:offset,
// file:line or the option).
class LabError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The distinct keys of some requests and the sum of their charged sizes
// (each key at its first size).
struct Footprint {
  std::uint64_t keys = 0;
  std::uint64_t bytes = 0;
};
Footprint footprint(const std::vector<Request>& requests);
// The same at the full trace's scale (a sampled trace holds sample_rate of it).
Footprint full_footprint(const Trace& trace);

// Sizes as a zone charges them: whole 4 KiB blocks.
inline constexpr std::uint64_t kBlock = 4096;
constexpr std::uint64_t round_to_block(std::uint64_t bytes, std::uint64_t block = kBlock) noexcept {
  return block <= 1 ? bytes : (bytes + block - 1) / block * block;
}

}  // namespace gateway::lab
