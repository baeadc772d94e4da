// Tests for lab/mrc: the sizes are log-spaced, SHARDS sampling keeps a key
// always or never, and sampled curves stay within a stated bound of the
// exact ones on a synthetic Zipf trace.
#include "lab/mrc.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <unordered_set>

#include "lab/synth.hpp"

using namespace gateway;
using namespace gateway::lab;

TEST_CASE("mrc: sizes are whole blocks, log-spaced and increasing") {
  const auto sizes = log_sizes(1 << 20, 1 << 30, 11);
  REQUIRE(sizes.size() == 11);
  CHECK(sizes.front() == 1 << 20);
  CHECK(sizes.back() == 1 << 30);
  for (std::size_t i = 1; i < sizes.size(); ++i) {
    CHECK(sizes[i] % 4096 == 0);
    CHECK(static_cast<double>(sizes[i]) / static_cast<double>(sizes[i - 1]) == doctest::Approx(1.995).epsilon(0.01));
  }
  CHECK(log_sizes(10, 100, 5) == std::vector<std::uint64_t>{4096});  // nothing below one block, no repeats
}

TEST_CASE("mrc: SHARDS keeps a key's every request or none, about R of the keys") {
  SynthOptions o{.requests = 50000, .objects = 20000, .seed = 1};
  const Trace trace = synthesize(o).trace;
  const auto kept = shards_sample(trace.requests, 0.1, 42);
  std::unordered_set<std::uint64_t> kept_keys, all_keys;
  for (const Request& r : kept) kept_keys.insert(r.key);
  std::size_t expected = 0;
  for (const Request& r : trace.requests) {
    all_keys.insert(r.key);
    if (kept_keys.contains(r.key)) ++expected;
  }
  CHECK(kept.size() == expected);
  CHECK(static_cast<double>(kept_keys.size()) / static_cast<double>(all_keys.size()) == doctest::Approx(0.1).epsilon(0.1));
  CHECK(shards_sample(trace.requests, 0.1, 43).size() != kept.size());  // another salt, another sample
}

TEST_CASE("mrc: SHARDS at 10% stays within 2 points of the exact curves on a Zipf trace, and measures how far") {
  SynthOptions o{.alpha = 0.9, .requests = 200000, .objects = 40000, .sizes = *parse_size_spec("fixed:4k"), .seed = 11};
  const Trace trace = synthesize(o).trace;
  std::string error;
  MrcOptions options{.policies = {*cache::parse_policy_spec("lru", error), *cache::parse_policy_spec("s3fifo", error)},
                     .points = 6, .threads = 2};
  const MrcResult exact = miss_ratio_curves(trace, options);
  CHECK(exact.sample_rate == 1.0);
  CHECK(exact.max_spread == 0);
  CHECK(exact.measured_error == -1);
  options.sample = 0.1;
  const MrcResult sampled = miss_ratio_curves(trace, options);
  CHECK(sampled.sample_rate == 0.1);
  CHECK(sampled.salts == 3);
  CHECK(sampled.unique_bytes == exact.unique_bytes);
  CHECK(sampled.validated_requests == 200000);  // the whole trace: the measured error is the true one
  REQUIRE(sampled.curves.size() == 2);
  double largest = 0;
  for (std::size_t c = 0; c < 2; ++c) {
    REQUIRE(sampled.curves[c].points.size() == exact.curves[c].points.size());
    for (std::size_t i = 0; i < exact.curves[c].points.size(); ++i) {
      const MrcPoint& e = exact.curves[c].points[i];
      const MrcPoint& s = sampled.curves[c].points[i];
      CHECK(s.size == e.size);
      CHECK_MESSAGE(std::abs(s.miss_ratio - e.miss_ratio) < 0.02,
                    "size " << e.size << " exact " << e.miss_ratio << " sampled " << s.miss_ratio);
      largest = std::max(largest, std::abs(s.miss_ratio - e.miss_ratio));
    }
  }
  CHECK(sampled.measured_error == doctest::Approx(largest));
  CHECK(sampled.max_spread > 0);
  CHECK(sampled.max_spread < 0.02);
  // Small sizes are simulated at a higher rate (up to exact), large ones at 10%.
  CHECK(sampled.curves[0].points.front().rate == 1.0);
  CHECK(sampled.curves[0].points.back().rate == 0.1);
  // The curve falls with size.
  const auto& lru = exact.curves[0].points;
  for (std::size_t i = 1; i < lru.size(); ++i) CHECK(lru[i].miss_ratio <= lru[i - 1].miss_ratio + 1e-9);
}

TEST_CASE("mrc: a large trace is sampled without being asked, a small one is exact") {
  SynthOptions o{.requests = 20000, .objects = 5000, .seed = 2};
  const Trace trace = synthesize(o).trace;
  std::string error;
  MrcOptions options{.policies = {*cache::parse_policy_spec("sieve", error)}, .points = 3, .exact_limit = 5000};
  const MrcResult auto_sampled = miss_ratio_curves(trace, options);
  CHECK(auto_sampled.sample_rate == doctest::Approx(0.25));
  options.exact_limit = 20000;
  CHECK(miss_ratio_curves(trace, options).sample_rate == 1.0);
}
