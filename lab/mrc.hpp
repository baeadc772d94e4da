// Miss-ratio curves: the miss ratio of each policy over cache sizes from
// ~0.1% to 100% of the trace's unique bytes (log-spaced). Exact (one
// replay per size over the whole trace) for small traces; for large ones
// spatially sampled as SHARDS does (Waldspurger et al., "Efficient MRC
// Construction with SHARDS", FAST '15): keep the keys whose hash is below
// R * 2^64 and simulate each size at R times the size. Small sizes, where
// the sampled cache would hold only a few objects and fixed-rate SHARDS
// errs most, get a higher rate (up to 32 R, or exact). The sampling error
// is stated: the curve is the mean over several hash salts, and each point
// carries the spread (the largest distance of a salt's curve from the mean);
// and the same sampling is measured against exact curves on the trace's
// first part. Sampled miss ratios are adjusted as SHARDS_adj does.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lab/replay.hpp"

namespace gateway::lab {

struct MrcOptions {
  std::vector<cache::PolicySpec> policies{};
  cache::AdmissionSpec admission{};
  unsigned points = 20;
  std::optional<double> sample{};              // SHARDS rate; nullopt: chosen by size
  std::uint64_t exact_limit = 1000000;       // requests up to which curves are exact
  unsigned salts = 3;                        // sampled curves averaged (the spread is the error)
  std::uint64_t validate = 1000000;          // sampled: measure the error against exact on this many first requests (0: no)
  unsigned threads = 0;
};

struct MrcPoint {
  std::uint64_t size = 0;      // bytes at full scale
  double miss_ratio = 0;       // objects
  double byte_miss_ratio = 0;
  double spread = 0;           // sampling error of miss_ratio (0: exact)
  double rate = 1.0;           // SHARDS rate this point was simulated at
};

struct MrcCurve {
  cache::PolicySpec policy{};
  std::vector<MrcPoint> points{};
};

struct MrcResult {
  std::vector<MrcCurve> curves{};
  std::uint64_t unique_bytes = 0;  // full scale
  std::uint64_t requests = 0;
  double sample_rate = 1.0;        // SHARDS base rate (1: exact); small sizes may use more
  unsigned salts = 1;
  double max_spread = 0;           // largest spread over every point
  // Sampled: the largest distance, at any point, between exact and sampled
  // curves of the trace's first `validated_requests` requests (-1: not measured).
  double measured_error = -1;
  std::uint64_t validated_requests = 0;
  double seconds = 0;
};

// Log-spaced sizes from `low` to `high` bytes, `points` of them, whole blocks.
std::vector<std::uint64_t> log_sizes(std::uint64_t low, std::uint64_t high, unsigned points);

// The requests whose key is kept at rate R under `salt`: hash < R * 2^64.
std::vector<Request> shards_sample(const std::vector<Request>& requests, double rate, std::uint64_t salt);

MrcResult miss_ratio_curves(const Trace& trace, const MrcOptions& options);

}  // namespace gateway::lab
