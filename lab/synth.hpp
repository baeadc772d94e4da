// Synthetic traces for gateway-lab and the bench: Zipf popularity, scans
// through a Zipf hot set, one-hit wonders and a diurnal (daily) cycle.
// Deterministic for a seed: the same options give the same bytes.
//
// Objects are numbered 1..N (popularity rank of the Zipf law); a request's
// key is object_id(n) (lab/trace_reader.hpp), its charged size the object's
// body size rounded up to 4 KiB blocks, as a zone charges its files.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lab/trace.hpp"

namespace gateway::lab {

enum class SynthKind { zipf, scan, one_hit_wonder, diurnal };
std::optional<SynthKind> parse_synth_kind(std::string_view name);

// Object body sizes: "fixed:4k", "uniform:1k-64k", "lognormal:1k-64k" (a
// log-normal whose central 99.7% (+-3 sigma) spans the range, clamped to it).
struct SizeSpec {
  enum class Shape { fixed, uniform, lognormal } shape = Shape::lognormal;
  std::uint64_t low = 1024;
  std::uint64_t high = 64 * 1024;
};
std::optional<SizeSpec> parse_size_spec(std::string_view text);

struct SynthOptions {
  SynthKind kind = SynthKind::zipf;
  double alpha = 0.9;
  std::uint64_t requests = 300000;
  std::uint64_t objects = 128000;
  SizeSpec sizes{};
  std::uint64_t seed = 1;
  std::uint32_t ttl = kNoExpiry;   // seconds; kNoExpiry: never stale
  double rate = 1000;              // mean requests per second (the trace's clock)
  double share = 0.3;              // scan: requests that scan; one-hit-wonder: requests to new keys
  double period_s = 86400;         // diurnal: length of the cycle in seconds
};

struct SynthTrace {
  Trace trace;
  std::vector<std::uint64_t> objects{};  // the object number of each request
};

SynthTrace synthesize(const SynthOptions& options);

}  // namespace gateway::lab
