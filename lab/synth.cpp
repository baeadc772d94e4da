// Synthetic trace generators (see synth.hpp).
#include "lab/synth.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <random>

#include "base/hash.hpp"
#include "base/units.hpp"
#include "lab/trace_reader.hpp"

namespace gateway::lab {

std::optional<SynthKind> parse_synth_kind(std::string_view name) {
  if (name == "zipf") return SynthKind::zipf;
  if (name == "scan") return SynthKind::scan;
  if (name == "one-hit-wonder") return SynthKind::one_hit_wonder;
  if (name == "diurnal") return SynthKind::diurnal;
  return std::nullopt;
}

std::optional<SizeSpec> parse_size_spec(std::string_view text) {
  SizeSpec spec;
  const std::size_t colon = text.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  const std::string_view shape = text.substr(0, colon), range = text.substr(colon + 1);
  if (shape == "fixed") {
    auto v = parse_size(range);
    if (!v || *v == 0) return std::nullopt;
    spec.shape = SizeSpec::Shape::fixed;
    spec.low = spec.high = *v;
    return spec;
  }
  if (shape == "uniform") spec.shape = SizeSpec::Shape::uniform;
  else if (shape == "lognormal") spec.shape = SizeSpec::Shape::lognormal;
  else return std::nullopt;
  const std::size_t dash = range.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  auto low = parse_size(range.substr(0, dash)), high = parse_size(range.substr(dash + 1));
  if (!low || !high || *low == 0 || *low > *high || *high > 0xffffffffull) return std::nullopt;
  spec.low = *low;
  spec.high = *high;
  return spec;
}

namespace {

std::uint64_t draw_size(const SizeSpec& spec, std::mt19937_64& rng) {
  switch (spec.shape) {
    case SizeSpec::Shape::fixed: return spec.low;
    case SizeSpec::Shape::uniform: return std::uniform_int_distribution<std::uint64_t>(spec.low, spec.high)(rng);
    case SizeSpec::Shape::lognormal: {
      const double lo = std::log(static_cast<double>(spec.low)), hi = std::log(static_cast<double>(spec.high));
      std::normal_distribution<double> normal((lo + hi) / 2, (hi - lo) / 6);
      const double v = std::exp(normal(rng));
      return std::clamp<std::uint64_t>(static_cast<std::uint64_t>(v), spec.low, spec.high);
    }
  }
  return spec.low;
}

// Zipf ranks 1..n with P(k) ~ 1 / k^alpha, by inverting the cumulative
// distribution (a binary search over n doubles).
class ZipfSampler {
 public:
  ZipfSampler(std::uint64_t n, double alpha) : cdf_(n) {
    double sum = 0;
    for (std::uint64_t k = 0; k < n; ++k) cdf_[k] = sum += 1.0 / std::pow(static_cast<double>(k + 1), alpha);
    for (double& c : cdf_) c /= sum;
  }
  std::uint64_t operator()(std::mt19937_64& rng) const {
    const double u = std::uniform_real_distribution<double>(0, 1)(rng);
    return static_cast<std::uint64_t>(std::lower_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin()) + 1;
  }

 private:
  std::vector<double> cdf_;
};

// The object number of request i, by kind: Zipf over 1..objects, plus the
// scan and one-hit-wonder keys above it.
struct Picker {
  const SynthOptions& o;
  ZipfSampler zipf{o.objects, o.alpha};
  std::uint64_t next_scan = 0;
  std::uint64_t next_new = 0;

  std::uint64_t pick(double t, std::mt19937_64& rng) {
    const double u = std::uniform_real_distribution<double>(0, 1)(rng);
    switch (o.kind) {
      case SynthKind::zipf: return zipf(rng);
      case SynthKind::scan:  // scans walk objects+1..2*objects, over and over
        if (u < o.share) return o.objects + 1 + next_scan++ % o.objects;
        return zipf(rng);
      case SynthKind::one_hit_wonder:  // never seen before, never again
        if (u < o.share) return 2 * o.objects + 1 + next_new++;
        return zipf(rng);
      case SynthKind::diurnal: {  // the popular set drifts through the objects once per cycle
        const auto shift = static_cast<std::uint64_t>(std::fmod(t / o.period_s, 1.0) * static_cast<double>(o.objects));
        return (zipf(rng) - 1 + shift) % o.objects + 1;
      }
    }
    return 1;
  }
};

// Seconds until the next request: exponential gaps at the mean rate, which
// for diurnal follows the day (between 20% and 180% of the mean).
double gap(const SynthOptions& o, double t, std::mt19937_64& rng) {
  double rate = o.rate;
  if (o.kind == SynthKind::diurnal) rate *= 1 + 0.8 * std::sin(2 * std::numbers::pi * t / o.period_s);
  return std::exponential_distribution<double>(rate)(rng);
}

}  // namespace

SynthTrace synthesize(const SynthOptions& options) {
  SynthTrace out;
  out.trace.routes = {"synth"};
  out.trace.requests.reserve(options.requests);
  out.objects.reserve(options.requests);
  std::mt19937_64 rng(options.seed);
  std::mt19937_64 sizes_rng;  // an object's size depends on the seed and its number only
  Picker picker{options};
  double t = 0;
  const std::uint64_t start_us = 1700000000ull * 1000000;  // a fixed epoch: the same bytes every run
  for (std::uint64_t i = 0; i < options.requests; ++i) {
    const std::uint64_t n = picker.pick(t, rng);
    sizes_rng.seed(mix64(options.seed ^ mix64(n)));
    const std::uint64_t body = draw_size(options.sizes, sizes_rng);
    out.trace.requests.push_back(Request{.time_us = start_us + static_cast<std::uint64_t>(t * 1e6),
                                         .key = object_id(n), .size = static_cast<std::uint32_t>(round_to_block(body)),
                                         .body = static_cast<std::uint32_t>(body), .ttl = options.ttl, .route = 0,
                                         .storable = options.ttl > 0});
    out.objects.push_back(n);
    t += gap(options, t, rng);
  }
  return out;
}

}  // namespace gateway::lab
