// gateway-lab's output: replay results and miss-ratio curves as an aligned
// table (for people), CSV (for spreadsheets and scripts) or JSON; and the
// curves as a PNG (lab/plot.*). Pure formatting into a string.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lab/mrc.hpp"
#include "lab/replay.hpp"

namespace gateway::lab {

enum class OutputFormat { table, csv, json };
std::optional<OutputFormat> parse_output_format(std::string_view name);

struct TraceSummary {
  std::uint64_t requests = 0;
  std::uint64_t unique_bytes = 0;  // full scale
  double sample_rate = 1.0;
  std::vector<std::string> routes{};
};

// `wall_seconds`: the whole replay (all threads), for the aggregate rate.
std::string format_replay(const TraceSummary& trace, const std::vector<ReplayResult>& results, double wall_seconds,
                          OutputFormat format, bool by_route);
std::string format_mrc(const MrcResult& mrc, OutputFormat format);

// A series label: "lru", "s3fifo+tinylfu" (admission shown unless none).
std::string series_name(const cache::PolicySpec& policy, const cache::AdmissionSpec& admission);
// "1.5 GiB", "64 KiB", "512 B".
std::string human_bytes(std::uint64_t bytes);

}  // namespace gateway::lab
