// Tests for lab/output: the replay and curve outputs in each format hold
// the figures, CSV has one row per result, JSON is well-formed enough to
// name every field once per result.
#include "lab/output.hpp"

#include <doctest/doctest.h>

using namespace gateway;
using namespace gateway::lab;

namespace {

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

ReplayResult result(std::string_view policy, std::string_view admission, std::uint64_t hits) {
  std::string error;
  ReplayResult r;
  r.zone = Zone{.policy = *cache::parse_policy_spec(policy, error),
                .admission = *cache::parse_admission_spec(admission, error), .size = 1 << 20, .label = "5%"};
  r.total = Counters{.requests = 1000, .hits = hits, .bytes = 4000, .hit_bytes = 4 * hits};
  r.routes = {Counters{.requests = 10, .hits = 5, .bytes = 10, .hit_bytes = 5}};
  r.seconds = 0.001;
  return r;
}

}  // namespace

TEST_CASE("output: replay results as table, CSV and JSON") {
  const TraceSummary trace{.requests = 1000, .unique_bytes = 20 << 20, .sample_rate = 1, .routes = {"/api/"}};
  const std::vector<ReplayResult> results = {result("lru", "none", 250), result("s3fifo", "min_uses:2", 500)};
  const std::string table = format_replay(trace, results, 0.002, OutputFormat::table, false);
  CHECK(table.find("20.0 MiB unique") != std::string::npos);
  CHECK(table.find("25.00") != std::string::npos);
  CHECK(table.find("min_uses:2") != std::string::npos);
  CHECK(table.find("total: 2 simulations, 2000 requests in 0.00 s: 1000000 requests/s") != std::string::npos);
  const std::string csv = format_replay(trace, results, 0.002, OutputFormat::csv, true);
  CHECK(count(csv, "\n") == 1 + 2 + 2);  // header, two totals, their route rows
  CHECK(csv.find("lru,none,5%,1048576,,1000,250,0.250000,4000,1000,0.250000,") != std::string::npos);
  CHECK(csv.find(",/api/,10,5,0.500000,") != std::string::npos);
  const std::string json = format_replay(trace, results, 0.002, OutputFormat::json, false);
  CHECK(count(json, "\"hit_ratio\":") == 2);
  CHECK(json.find("\"policy\":\"s3fifo\",\"admission\":\"min_uses:2\"") != std::string::npos);
  CHECK(json.find("\"requests_per_s\":1000000}") != std::string::npos);
  CHECK(json.front() == '{');
  CHECK(json.substr(json.size() - 2) == "}\n");
}

TEST_CASE("output: curves as table, CSV and JSON state the method and the error") {
  std::string error;
  MrcResult mrc;
  mrc.requests = 100;
  mrc.unique_bytes = 1 << 20;
  mrc.sample_rate = 0.1;
  mrc.salts = 3;
  mrc.max_spread = 0.004;
  mrc.measured_error = 0.012;
  mrc.validated_requests = 100;
  mrc.curves = {MrcCurve{.policy = *cache::parse_policy_spec("sieve", error),
                         .points = {MrcPoint{.size = 1 << 19, .miss_ratio = 0.5, .byte_miss_ratio = 0.6, .spread = 0.004,
                                             .rate = 0.1}}}};
  const std::string table = format_mrc(mrc, OutputFormat::table);
  CHECK(table.find("SHARDS at rate 0.1") != std::string::npos);
  CHECK(table.find("measured error against exact on the first 100 requests: 1.20 points") != std::string::npos);
  CHECK(table.find("512.0 KiB    50.000     50.00      60.00     0.40") != std::string::npos);
  CHECK(format_mrc(mrc, OutputFormat::csv) ==
        "policy,size_bytes,size_fraction,miss_ratio,byte_miss_ratio,spread,sample_rate\n"
        "sieve,524288,0.500000,0.500000,0.600000,0.004000,0.1\n");
  const std::string json = format_mrc(mrc, OutputFormat::json);
  CHECK(json.find("\"measured_error\":0.012000") != std::string::npos);
  CHECK(json.find("\"points\":[{\"size_bytes\":524288,") != std::string::npos);
}

TEST_CASE("output: sizes read as people write them") {
  CHECK(human_bytes(512) == "512 B");
  CHECK(human_bytes(64 << 10) == "64.0 KiB");
  CHECK(human_bytes(3ull << 29) == "1.5 GiB");
  std::string error;
  CHECK(series_name(*cache::parse_policy_spec("lru", error), *cache::parse_admission_spec("tinylfu", error)) ==
        "lru+tinylfu");
  CHECK(series_name(*cache::parse_policy_spec("sieve", error), *cache::parse_admission_spec("none", error)) == "sieve");
}
