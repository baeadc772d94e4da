// Tests for lab/synth: Zipf rank-frequency, determinism for a seed, sizes
// charged in 4 KiB blocks, the scan / one-hit-wonder / diurnal shapes, and
// the written trace reading back the same.
#include "lab/synth.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>
#include <unordered_set>

#include "lab/trace_reader.hpp"
#include "lab/trace_writer.hpp"

using namespace gateway::lab;

namespace {

std::map<std::uint64_t, std::uint64_t> counts(const SynthTrace& s) {
  std::map<std::uint64_t, std::uint64_t> c;
  for (std::uint64_t n : s.objects) ++c[n];
  return c;
}

}  // namespace

TEST_CASE("synth: zipf rank frequencies fall as 1/rank^alpha") {
  SynthOptions o{.alpha = 0.9, .requests = 200000, .objects = 10000, .seed = 7};
  const SynthTrace s = synthesize(o);
  const auto c = counts(s);
  // P(rank 1) / P(rank k) = k^alpha: check a few ranks within 10%.
  const double top = static_cast<double>(c.at(1));
  for (std::uint64_t k : {2, 4, 10}) {
    const double expected = top / std::pow(static_cast<double>(k), 0.9);
    CHECK(static_cast<double>(c.at(k)) == doctest::Approx(expected).epsilon(0.10));
  }
  // The top 1% of objects draw their share of the requests (H(100)/H(10000) for alpha 0.9).
  double head = 0, all = 0;
  for (std::uint64_t k = 1; k <= 10000; ++k) {
    const double p = 1 / std::pow(static_cast<double>(k), 0.9);
    all += p;
    if (k <= 100) head += p;
  }
  std::uint64_t head_requests = 0;
  for (const auto& [n, count] : c)
    if (n <= 100) head_requests += count;
  CHECK(static_cast<double>(head_requests) / 200000 == doctest::Approx(head / all).epsilon(0.03));
}

TEST_CASE("synth: the same seed gives the same trace, another seed another") {
  SynthOptions o{.requests = 5000, .objects = 1000, .seed = 3};
  const SynthTrace a = synthesize(o), b = synthesize(o);
  std::ostringstream wa, wb;
  write_gateway_trace(wa, a.trace);
  write_gateway_trace(wb, b.trace);
  CHECK(wa.str() == wb.str());
  o.seed = 4;
  std::ostringstream wc;
  write_gateway_trace(wc, synthesize(o).trace);
  CHECK(wc.str() != wa.str());
}

TEST_CASE("synth: an object keeps one size, charged in 4 KiB blocks within the range") {
  SynthOptions o{.requests = 20000, .objects = 2000, .sizes = *parse_size_spec("lognormal:1k-64k"), .seed = 1};
  const SynthTrace s = synthesize(o);
  std::map<std::uint64_t, std::uint32_t> body;
  for (std::size_t i = 0; i < s.objects.size(); ++i) {
    const Request& r = s.trace.requests[i];
    CHECK(r.body >= 1024);
    CHECK(r.body <= 65536);
    CHECK(r.size % 4096 == 0);
    CHECK(r.size >= r.body);
    CHECK(r.size < r.body + 4096);
    CHECK(r.key == object_id(s.objects[i]));
    auto [it, fresh] = body.emplace(s.objects[i], r.body);
    if (!fresh) CHECK(it->second == r.body);
  }
}

TEST_CASE("synth: one-hit wonders are never requested again, scans walk the cold keys in order") {
  SynthOptions o{.kind = SynthKind::one_hit_wonder, .requests = 10000, .objects = 500, .seed = 2, .share = 0.5};
  const SynthTrace w = synthesize(o);
  std::uint64_t once = 0;
  for (const auto& [n, count] : counts(w))
    if (n > 2 * o.objects) {
      CHECK(count == 1);
      ++once;
    }
  CHECK(static_cast<double>(once) == doctest::Approx(5000).epsilon(0.05));

  o.kind = SynthKind::scan;
  const SynthTrace s = synthesize(o);
  std::vector<std::uint64_t> cold;
  for (std::uint64_t n : s.objects)
    if (n > o.objects) cold.push_back(n);
  REQUIRE(cold.size() > 1000);
  for (std::size_t i = 0; i < cold.size(); ++i) CHECK(cold[i] == o.objects + 1 + i % o.objects);
}

TEST_CASE("synth: diurnal load rises and falls over the period, its hot set drifts") {
  SynthOptions o{.kind = SynthKind::diurnal, .requests = 40000, .objects = 1000, .seed = 5, .rate = 1, .period_s = 20000};
  const SynthTrace s = synthesize(o);
  // Requests in the first and the third quarter of the first cycle.
  const std::uint64_t start = s.trace.requests.front().time_us;
  std::uint64_t rising = 0, falling = 0;
  std::map<std::uint64_t, std::uint64_t> early, late;
  for (std::size_t i = 0; i < s.objects.size(); ++i) {
    const double t = static_cast<double>(s.trace.requests[i].time_us - start) / 1e6;
    if (t < 5000) ++rising, ++early[s.objects[i]];
    else if (t >= 10000 && t < 15000) ++falling, ++late[s.objects[i]];
  }
  CHECK(rising > 2 * falling);  // mean rates 1.51 and 0.49 of the average
  auto top = [](const std::map<std::uint64_t, std::uint64_t>& m) {
    return std::max_element(m.begin(), m.end(), [](auto& a, auto& b) { return a.second < b.second; })->first;
  };
  CHECK(top(early) != top(late));
}

TEST_CASE("synth: the CSV and gateway files read back as the same requests") {
  SynthOptions o{.requests = 300, .objects = 50, .seed = 9, .ttl = 30};
  const SynthTrace s = synthesize(o);
  std::ostringstream gw, csv;
  write_gateway_trace(gw, s.trace);
  write_csv_trace(csv, s.trace, s.objects);
  Trace from_gw, from_csv;
  parse_gateway_trace("s.bin", gw.str(), from_gw, true);
  parse_csv_trace("s.csv", csv.str(), from_csv, kBlock);
  REQUIRE(from_gw.requests.size() == 300);
  REQUIRE(from_csv.requests.size() == 300);
  for (std::size_t i = 0; i < 300; ++i) {
    const Request& a = s.trace.requests[i];
    for (const Request* b : {&from_gw.requests[i], &from_csv.requests[i]}) {
      CHECK(b->key == a.key);
      CHECK(b->size == a.size);
      CHECK(b->body == a.body);
      CHECK(b->ttl == 30);
      CHECK(b->storable);
      CHECK(b->time_us == a.time_us);
    }
  }
}

TEST_CASE("synth: size specs parse, bad ones do not") {
  CHECK(parse_size_spec("fixed:4k")->low == 4096);
  CHECK(parse_size_spec("uniform:1k-2k")->high == 2048);
  CHECK(parse_size_spec("lognormal:1KiB-64KiB")->shape == SizeSpec::Shape::lognormal);
  for (const char* bad : {"lognormal", "lognormal:64k-1k", "gauss:1k-2k", "fixed:0", "uniform:1k", "uniform:0-3"})
    CHECK_MESSAGE(!parse_size_spec(bad), bad);
  CHECK(parse_synth_kind("one-hit-wonder") == SynthKind::one_hit_wonder);
  CHECK_FALSE(parse_synth_kind("zipfian"));
}
