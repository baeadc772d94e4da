// libFuzzer target: the traces gateway-lab reads, which come from anywhere
// (a zone's trace file cut by a crash or a full disk, a CSV a user wrote,
// a public oracleGeneral trace):
//   lab::parse_gateway_trace  the gateway's trace (cache/trace_format.hpp)
//   lab::parse_csv_trace      time,key,size[,ttl]
//   lab::parse_oracle_trace   libCacheSim's oracleGeneral records
// The first byte picks the reader (and the block size of imports), the rest
// is the file. A bad file must be refused with LabError, never read past;
// what parses is replayed through every policy with and without admission
// (sizes of 0, huge ttls, keys repeated in any order), at a small zone so
// eviction runs, and the counts must add up: hits <= requests, hit bytes
// <= bytes.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "check.hpp"
#include "lab/replay.hpp"
#include "lab/trace_reader.hpp"

namespace {

using namespace gateway;
using fuzz::check;

void replay_everything(const lab::Trace& trace) {
  const std::vector<cache::PolicySpec> policies = {
      {.kind = cache::PolicyKind::lru},
      {.kind = cache::PolicyKind::sieve},
      {.kind = cache::PolicyKind::s3fifo},
      {.kind = cache::PolicyKind::s3fifo, .small = 0.5, .promote = 3}};
  const std::vector<cache::AdmissionSpec> admissions = {
      {}, {.kind = cache::AdmissionKind::min_uses, .min_uses = 2}, {.kind = cache::AdmissionKind::tinylfu}};
  for (const auto& policy : policies) {
    for (const auto& admission : admissions) {
      const lab::Zone zone{.policy = policy, .admission = admission, .size = 64 * 1024, .label = "64k"};
      const auto result = lab::replay(trace.requests, zone, trace.sample_rate, trace.routes.size());
      check(result.total.requests == trace.requests.size(), "replay: every request counted");
      check(result.total.hits <= result.total.requests, "replay: more hits than requests");
      check(result.total.hit_bytes <= result.total.bytes, "replay: more hit bytes than bytes");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0 || size > 64 * 1024) return 0;
  const std::uint8_t pick = data[0];
  const std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::uint64_t block = (pick & 0x10) ? 1 : lab::kBlock;
  lab::Trace trace;
  try {
    switch (pick % 3) {
      case 0:
        lab::parse_gateway_trace("fuzz", bytes, trace, true);
        break;
      case 1:
        lab::parse_csv_trace("fuzz", bytes, trace, block);
        break;
      default:
        lab::parse_oracle_trace("fuzz", bytes, trace, block);
        break;
    }
  } catch (const lab::LabError&) {
    return 0;  // refused, as it must be
  }
  check(trace.sample_rate > 0 && trace.sample_rate <= 1, "a parsed trace's sample rate is in (0, 1]");
  for (const auto& r : trace.requests) {
    check(r.route == lab::kNoRoute || r.route < trace.routes.size(), "a request names a route the trace defines");
  }
  replay_everything(trace);
  return 0;
}
