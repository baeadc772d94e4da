// Miss-ratio curves, exact or SHARDS-sampled (see mrc.hpp). The replays
// run on threads (run_parallel); the sampled traces are made first, on the
// calling thread, and only read afterwards.
#include "lab/mrc.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>

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

// Fixed-rate SHARDS errs where the sampled cache holds only a handful of
// objects (the small sizes): there the rate doubles, up to 32 times, until
// the sampled cache holds kMinSampledObjects average objects (or the rate
// reaches 1: exact). Returns the doublings.
constexpr double kMinSampledObjects = 500;
constexpr unsigned kMaxDoublings = 5;

unsigned doublings_for(std::uint64_t size, double rate, double mean_object) {
  unsigned k = 0;
  while (k < kMaxDoublings && rate * (1u << k) < 1.0 &&
         static_cast<double>(size) * rate * (1u << k) < kMinSampledObjects * mean_object)
    ++k;
  return k;
}

// One replay of the plan: a policy at a size over one sampled trace.
struct Run {
  std::size_t policy, size;
  const std::vector<Request>* requests;
  double rate;
};

// SHARDS_adj (Waldspurger et al., section 4.3): a sample holds more or
// fewer requests than rate x requests, mostly by catching or missing a
// few very popular keys, whose requests are nearly all hits. Counting the
// difference as hits (or taking that many hits away) removes most of that
// error: misses over the expected number of sampled requests (and missed
// bytes over the expected sampled bytes).
struct Expected {
  double requests;
  double bytes;
};

std::pair<double, double> adjusted_miss_ratios(const Counters& c, double rate, const Expected& full) {
  if (rate >= 1.0 || c.requests == 0) return {1 - c.hit_ratio(), 1 - c.byte_hit_ratio()};
  return {std::min(1.0, static_cast<double>(c.requests - c.hits) / (rate * full.requests)),
          std::min(1.0, static_cast<double>(c.bytes - c.hit_bytes) / (rate * full.bytes))};
}

// The replays a curve set needs, and the sampled traces they read: by
// doublings of the rate and salt; rate 1 is the trace itself, once.
struct Plan {
  std::map<std::pair<unsigned, unsigned>, std::vector<Request>> samples;
  std::vector<Run> runs;
};

void plan_runs(const Trace& trace, const MrcOptions& o, const MrcResult& out, const std::vector<std::uint64_t>& sizes,
               double mean_object, Plan& plan) {
  for (std::size_t z = 0; z < sizes.size(); ++z) {
    const unsigned k = out.sample_rate < 1.0 ? doublings_for(sizes[z], out.sample_rate, mean_object) : 0;
    const double rate = std::min(1.0, out.sample_rate * (1u << k));
    for (unsigned s = 0; s < (rate < 1.0 ? out.salts : 1u); ++s) {
      const std::vector<Request>* requests = &trace.requests;
      if (rate < 1.0) {
        auto [it, fresh] = plan.samples.try_emplace({k, s});
        if (fresh) it->second = shards_sample(trace.requests, rate, mix64(0x5eed + s));
        requests = &it->second;
      }
      for (std::size_t p = 0; p < o.policies.size(); ++p) plan.runs.push_back(Run{p, z, requests, rate});
    }
  }
}

// A point of one policy's curve: the mean over the salts; its spread is
// the largest distance of one salt's miss ratio from that mean.
MrcPoint point_of(const Plan& plan, const std::vector<ReplayResult>& results, std::size_t p, std::size_t z,
                  const Expected& full) {
  MrcPoint point;
  std::vector<double> misses;
  double byte_misses = 0;
  for (std::size_t i = 0; i < plan.runs.size(); ++i) {
    if (plan.runs[i].policy != p || plan.runs[i].size != z) continue;
    const auto [miss, byte_miss] = adjusted_miss_ratios(results[i].total, plan.runs[i].rate, full);
    misses.push_back(miss);
    byte_misses += byte_miss;
    point.rate = plan.runs[i].rate;
  }
  const double n = static_cast<double>(misses.size());
  for (double m : misses) point.miss_ratio += m / n;
  point.byte_miss_ratio = byte_misses / n;
  for (double m : misses) point.spread = std::max(point.spread, std::abs(m - point.miss_ratio));
  return point;
}

MrcResult curves_of(const Trace& trace, const MrcOptions& o, double rate) {
  MrcResult out;
  out.requests = trace.requests.size();
  const Footprint full = full_footprint(trace);
  out.unique_bytes = full.bytes;
  out.sample_rate = rate;
  out.salts = rate < 1.0 ? std::max(1u, o.salts) : 1;
  const std::vector<std::uint64_t> sizes = log_sizes(out.unique_bytes / 1000, out.unique_bytes, o.points);
  const double mean_object = static_cast<double>(full.bytes) / static_cast<double>(std::max<std::uint64_t>(full.keys, 1));
  Expected expected{static_cast<double>(trace.requests.size()), 0};
  for (const Request& r : trace.requests) expected.bytes += r.body;

  Plan plan;
  plan_runs(trace, o, out, sizes, mean_object, plan);
  std::vector<ReplayResult> results(plan.runs.size());
  run_parallel(plan.runs.size(), o.threads, [&](std::size_t i) {
    const Run& run = plan.runs[i];
    Zone zone{.policy = o.policies[run.policy], .admission = o.admission, .size = sizes[run.size], .label = {}};
    results[i] = replay(*run.requests, zone, trace.sample_rate * run.rate);
  });
  for (std::size_t p = 0; p < o.policies.size(); ++p) {
    MrcCurve curve{.policy = o.policies[p], .points = {}};
    for (std::size_t z = 0; z < sizes.size(); ++z) {
      curve.points.push_back(point_of(plan, results, p, z, expected));
      curve.points.back().size = sizes[z];
      out.max_spread = std::max(out.max_spread, curve.points.back().spread);
    }
    out.curves.push_back(std::move(curve));
  }
  return out;
}

// The largest distance between two curve sets' miss ratios, point by point.
double largest_difference(const MrcResult& a, const MrcResult& b) {
  double d = 0;
  for (std::size_t c = 0; c < a.curves.size() && c < b.curves.size(); ++c)
    for (std::size_t i = 0; i < a.curves[c].points.size() && i < b.curves[c].points.size(); ++i)
      d = std::max(d, std::abs(a.curves[c].points[i].miss_ratio - b.curves[c].points[i].miss_ratio));
  return d;
}

}  // namespace

MrcResult miss_ratio_curves(const Trace& trace, const MrcOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  MrcResult out = curves_of(trace, o, choose_rate(trace, o));
  // The sampling error measured: the same sampling against exact curves on
  // the trace's first part (a smaller sample, so if anything an overstatement).
  if (out.sample_rate < 1.0 && o.validate > 0) {
    Trace prefix;
    prefix.sample_rate = trace.sample_rate;
    const std::size_t n = std::min<std::size_t>(trace.requests.size(), o.validate);
    prefix.requests.assign(trace.requests.begin(), trace.requests.begin() + static_cast<std::ptrdiff_t>(n));
    out.validated_requests = n;
    out.measured_error = largest_difference(curves_of(prefix, o, 1.0), curves_of(prefix, o, out.sample_rate));
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

}  // namespace gateway::lab
