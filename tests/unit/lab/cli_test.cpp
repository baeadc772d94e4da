// Tests for lab/cli: the commands' options parse into their structs with
// the zone config's policy and admission names; every mistake is a
// UsageError naming the option.
#include "lab/cli.hpp"

#include <doctest/doctest.h>

#include "tests/unit/lab/error_text.hpp"

using namespace gateway;
using namespace gateway::lab;

namespace {

std::string usage_error(auto&& f) { return testing::error_text<UsageError>(f); }

}  // namespace

TEST_CASE("cli: replay takes traces, policies, admissions and sizes in % or bytes") {
  const ReplayArgs a = parse_replay_args({"t.2", "t.1", "--policy", "lru,s3fifo:small=5%:promote=2,sieve", "--size=1%,64MiB",
                                          "--admission", "none,min_uses:2,tinylfu", "--format", "json", "--by-route",
                                          "--trace-format", "csv", "--block", "1", "--threads", "3"});
  CHECK(a.common.traces == std::vector<std::string>{"t.2", "t.1"});
  REQUIRE(a.policies.size() == 3);
  CHECK(a.policies[1].kind == cache::PolicyKind::s3fifo);
  CHECK(a.policies[1].small == doctest::Approx(0.05));
  CHECK(a.policies[1].promote == 2);
  REQUIRE(a.admissions.size() == 3);
  CHECK(a.admissions[1].min_uses == 2);
  CHECK(a.admissions[2].kind == cache::AdmissionKind::tinylfu);
  REQUIRE(a.sizes.size() == 2);
  CHECK(*a.sizes[0].fraction == doctest::Approx(0.01));
  CHECK(a.sizes[1].bytes == 64ull << 20);
  CHECK(a.common.format == OutputFormat::json);
  CHECK(a.common.read.format == TraceFormat::csv);
  CHECK(a.common.read.block == 1);
  CHECK(a.common.threads == 3);
  CHECK(a.by_route);
  const auto zones = zones_of(a, 1000 * 4096);
  REQUIRE(zones.size() == 3 * 3 * 2);
  CHECK(zones[0].size == 40960);
  CHECK(zones[0].label == "1%");
  CHECK(zones[1].size == 64ull << 20);
}

TEST_CASE("cli: replay's defaults are lru,s3fifo,sieve at 1%, 5%, 10% without admission") {
  const ReplayArgs a = parse_replay_args({"trace.bin"});
  CHECK(a.policies.size() == 3);
  CHECK(a.sizes.size() == 3);
  REQUIRE(a.admissions.size() == 1);
  CHECK(a.admissions[0].kind == cache::AdmissionKind::none);
  CHECK(a.common.format == OutputFormat::table);
}

TEST_CASE("cli: mistakes name the option") {
  struct Row {
    std::vector<std::string> args;
    std::string starts;
  };
  const std::vector<Row> rows = {
      {{}, "replay: no trace file given"},
      {{"t", "--policy", "fifo"}, "--policy: 'fifo': "},
      {{"t", "--policy", "lru,"}, "--policy: '': "},
      {{"t", "--admission", "min_uses:0"}, "--admission: 'min_uses:0': "},
      {{"t", "--size", "0%"}, "--size: '0%' is not a percentage in (0, 100]"},
      {{"t", "--size", "120%"}, "--size: '120%' is not a percentage"},
      {{"t", "--size", "lots"}, "--size: 'lots' is neither N% nor a size"},
      {{"t", "--format", "xml"}, "--format: 'xml' is not one of table, csv, json"},
      {{"t", "--trace-format", "parquet"}, "--trace-format: 'parquet' is not one of gateway, csv, oracle"},
      {{"t", "--threads", "0"}, "--threads: '0' is not a number in [1, 1024]"},
      {{"t", "--frobnicate"}, "unknown option --frobnicate"},
      {{"t", "--policy"}, "--policy: needs a value"},
  };
  for (const Row& row : rows) {
    const std::string error = usage_error([&] { parse_replay_args(row.args); });
    CHECK_MESSAGE(error.starts_with(row.starts), error);
  }
  CHECK(usage_error([] { parse_mrc_args({"t", "--points", "1"}); }).starts_with("--points: '1' is not a number"));
  CHECK(usage_error([] { parse_mrc_args({"t", "--sample", "2"}); }).starts_with("--sample: '2' is not a number"));
  CHECK(usage_error([] { parse_mrc_args({"t", "--admission", "none,tinylfu"}); }) ==
        "--admission: mrc takes one admission rule");
  CHECK(usage_error([] { parse_synth_args({"zipf"}); }) == "synth: -o FILE is required");
  CHECK(usage_error([] { parse_synth_args({"-o", "x"}); }).starts_with("synth: name one kind"));
  CHECK(usage_error([] { parse_synth_args({"pareto", "-o", "x"}); }).starts_with("synth: 'pareto' is not one of"));
  CHECK(usage_error([] { parse_synth_args({"zipf", "-o", "x", "--size", "1k-2k"}); }).starts_with("--size: '1k-2k'"));
  CHECK(usage_error([] { parse_synth_args({"zipf", "-o", "x", "--ttl", "soon"}); }).starts_with("--ttl: 'soon'"));
  CHECK(usage_error([] { parse_synth_args({"zipf", "-o", "x", "--format", "json"}); }).starts_with("--format: 'json'"));
}

TEST_CASE("cli: synth options") {
  const SynthArgs s = parse_synth_args({"diurnal", "--alpha", "1.1", "--requests", "1000", "--objects", "50", "--size",
                                        "uniform:1k-2k", "--seed", "9", "--ttl", "1m", "--period", "1h", "--format",
                                        "csv", "-o", "out.csv"});
  CHECK(s.synth.kind == SynthKind::diurnal);
  CHECK(s.synth.alpha == doctest::Approx(1.1));
  CHECK(s.synth.requests == 1000);
  CHECK(s.synth.objects == 50);
  CHECK(s.synth.sizes.shape == SizeSpec::Shape::uniform);
  CHECK(s.synth.seed == 9);
  CHECK(s.synth.ttl == 60);
  CHECK(s.synth.period_s == 3600);
  CHECK(s.csv);
  CHECK(s.output == "out.csv");
}
