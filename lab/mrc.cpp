// Miss-ratio curves, exact or SHARDS-sampled (see mrc.hpp). The replays
// run on threads (run_parallel); the sampled traces are made first, on the
// calling thread, and only read afterwards.
#include "lab/mrc.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "base/hash.hpp"

namespace gateway::lab {

std::vector<std::uint64_t> log_sizes(std::uint64_t low, std::uint64_t high, unsigned points) {
  std::vector<std::uint64_t> sizes;
  low = std::max<std::uint64_t>(low, kBlock);
  high = std::max(high, low);
  for (unsigned i = 0; i < points; ++i) {
    const double f = points == 1 ? 1.0 : static_cast<double>(i) / (points - 1);
    const double v = std::exp(std::log(static_cast<double>(low)) * (1 - f) + std::log(static_cast<double>(high)) * f);
    const std::uint64_t size = round_to_block(static_cast<std::uint64_t>(v));
    if (sizes.empty() || size > sizes.back()) sizes.push_back(size);
  }
  return sizes;
}

std::vector<Request> shards_sample(const std::vector<Request>& requests, double rate, std::uint64_t salt) {
  if (rate >= 1.0) return requests;
  // Keys are already hashes; salting and mixing again gives each salt its
  // own independent selection (and spreads small numeric ids).
  const auto threshold = static_cast<std::uint64_t>(rate * 18446744073709551616.0);
  std::vector<Request> kept;
  kept.reserve(static_cast<std::size_t>(static_cast<double>(requests.size()) * rate * 1.2) + 16);
  for (const Request& r : requests) {
    if (mix64(r.key ^ salt) < threshold) kept.push_back(r);
  }
  return kept;
}

namespace {

double choose_rate(const Trace& trace, const MrcOptions& o) {
  if (o.sample) return *o.sample;
  if (trace.requests.size() <= o.exact_limit) return 1.0;
  // About exact_limit requests per sampled trace, never below 0.1%.
  return std::max(0.001, static_cast<double>(o.exact_limit) / static_cast<double>(trace.requests.size()));
}

}  // namespace

MrcResult miss_ratio_curves(const Trace& trace, const MrcOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  MrcResult out;
  out.requests = trace.requests.size();
  out.unique_bytes = static_cast<std::uint64_t>(static_cast<double>(unique_bytes(trace.requests)) / trace.sample_rate);
  out.sample_rate = choose_rate(trace, o);
  out.salts = out.sample_rate < 1.0 ? std::max(1u, o.salts) : 1;
  const std::vector<std::uint64_t> sizes = log_sizes(out.unique_bytes / 1000, out.unique_bytes, o.points);

  std::vector<std::vector<Request>> samples;
  for (unsigned s = 0; s < out.salts; ++s)
    samples.push_back(shards_sample(trace.requests, out.sample_rate, mix64(0x5eed + s)));

  // One replay per (policy, size, salt).
  const std::size_t per_policy = sizes.size() * out.salts;
  std::vector<ReplayResult> runs(o.policies.size() * per_policy);
  run_parallel(runs.size(), o.threads, [&](std::size_t i) {
    const std::size_t p = i / per_policy, k = i % per_policy, z = k / out.salts, s = k % out.salts;
    runs[i] = replay(samples[s], Zone{.policy = o.policies[p], .admission = o.admission, .size = sizes[z]},
                     trace.sample_rate * out.sample_rate);
  });

  for (std::size_t p = 0; p < o.policies.size(); ++p) {
    MrcCurve curve{.policy = o.policies[p]};
    for (std::size_t z = 0; z < sizes.size(); ++z) {
      MrcPoint point{.size = sizes[z]};
      std::vector<double> misses;
      for (unsigned s = 0; s < out.salts; ++s) {
        const Counters& c = runs[p * per_policy + z * out.salts + s].total;
        misses.push_back(1 - c.hit_ratio());
        point.byte_miss_ratio += (1 - c.byte_hit_ratio()) / out.salts;
      }
      for (double m : misses) point.miss_ratio += m / out.salts;
      for (double m : misses) point.spread = std::max(point.spread, std::abs(m - point.miss_ratio));
      out.max_spread = std::max(out.max_spread, point.spread);
      curve.points.push_back(point);
    }
    out.curves.push_back(std::move(curve));
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

}  // namespace gateway::lab
