// gateway-lab's command line: the argument parsing of its three commands
// into plain option structs. Pure (no I/O): a mistake throws UsageError,
// which main turns into a message and exit status 2.
//
//   gateway-lab replay TRACE... [--policy lru,s3fifo,sieve] [--size 1%,5%,10%|BYTES,...]
//                               [--admission none,min_uses:2,tinylfu] [--format table|csv|json]
//                               [--trace-format gateway|csv|oracle] [--block BYTES] [--threads N]
//                               [--by-route] [--plot FILE.png]
//   gateway-lab mrc TRACE... [--policy ...] [--admission SPEC] [--points N] [--sample R] [--salts N]
//                            [--exact-limit N] [--format ...] [--trace-format ...] [--plot FILE.png]
//   gateway-lab synth zipf|scan|one-hit-wonder|diurnal [--alpha A] [--requests N] [--objects N]
//                     [--size lognormal:1k-64k] [--seed S] [--ttl DURATION] [--rate R] [--share F]
//                     [--period DURATION] [--format gateway|csv] -o FILE
//
// Policy and admission names are the zone config's (cache/eviction.hpp's
// parse_policy_spec, cache/admission.hpp's parse_admission_spec).
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "lab/mrc.hpp"
#include "lab/output.hpp"
#include "lab/synth.hpp"
#include "lab/trace_reader.hpp"

namespace gateway::lab {

class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A --size item: a share of the trace's unique bytes, or bytes.
struct SizeArg {
  std::string label{};
  std::optional<double> fraction{};
  std::uint64_t bytes = 0;
};

struct CommonArgs {
  std::vector<std::string> traces{};
  ReadOptions read{};
  OutputFormat format = OutputFormat::table;
  std::optional<std::string> plot{};
  unsigned threads = 0;
};

struct ReplayArgs {
  CommonArgs common{};
  std::vector<cache::PolicySpec> policies{};
  std::vector<cache::AdmissionSpec> admissions{};
  std::vector<SizeArg> sizes{};
  bool by_route = false;
};

struct MrcArgs {
  CommonArgs common{};
  MrcOptions mrc{};
};

struct SynthArgs {
  SynthOptions synth{};
  std::string output{};
  bool csv = false;
};

ReplayArgs parse_replay_args(const std::vector<std::string>& args);
MrcArgs parse_mrc_args(const std::vector<std::string>& args);
SynthArgs parse_synth_args(const std::vector<std::string>& args);

std::vector<cache::PolicySpec> parse_policy_list(const std::string& text);
std::vector<cache::AdmissionSpec> parse_admission_list(const std::string& text);
std::vector<SizeArg> parse_size_list(const std::string& text);

// The zones a replay simulates: every policy x admission x size, sizes in %
// taken of `unique_bytes` (the full-scale unique bytes of the trace).
std::vector<Zone> zones_of(const ReplayArgs& args, std::uint64_t unique_bytes);

extern const char* const kUsage;

}  // namespace gateway::lab
