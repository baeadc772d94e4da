// Trace writers (see trace_writer.hpp).
#include "lab/trace_writer.hpp"

#include <array>
#include <cassert>
#include <cstdio>

#include "cache/trace_format.hpp"

namespace gateway::lab {

void write_gateway_trace(std::ostream& out, const Trace& trace) {
  std::array<unsigned char, cache::kTraceRecordSize> buf{};
  cache::encode(cache::TraceHeader{.sample = cache::trace_sample_count(trace.sample_rate),
                                   .start_us = trace.requests.empty() ? 0 : trace.requests.front().time_us},
                buf.data());
  out.write(reinterpret_cast<const char*>(buf.data()), buf.size());
  // One route for every record (synth has no routes): "synth".
  std::string route_record;
  cache::append_route_name(route_record, 0, trace.routes.empty() ? "synth" : trace.routes.front(), 0);
  out.write(route_record.data(), static_cast<std::streamsize>(route_record.size()));
  for (const Request& r : trace.requests) {
    const bool storable = r.storable && r.ttl > 0;
    cache::encode(cache::TraceRecord{.time_us = r.time_us, .key = r.key, .size = r.size, .body = r.body,
                                     .ttl = r.ttl == kNoExpiry ? 0xfffffffeu : r.ttl, .route = 0,
                                     .status = 1 /* MISS: as seen without a cache */, .flags = storable ? cache::kTraceStorable : std::uint8_t{0}},
                  buf.data());
    out.write(reinterpret_cast<const char*>(buf.data()), buf.size());
  }
}

void write_csv_trace(std::ostream& out, const Trace& trace, const std::vector<std::uint64_t>& object_numbers) {
  assert(object_numbers.size() == trace.requests.size());
  out << "time,key,size,ttl\n";
  char line[96];
  for (std::size_t i = 0; i < trace.requests.size(); ++i) {
    const Request& r = trace.requests[i];
    const int n = std::snprintf(line, sizeof line, "%llu.%06llu,%llu,%u,%u\n",
                                static_cast<unsigned long long>(r.time_us / 1000000),
                                static_cast<unsigned long long>(r.time_us % 1000000),
                                static_cast<unsigned long long>(object_numbers[i]), r.body,
                                r.storable ? r.ttl : 0u);
    out.write(line, n);
  }
}

}  // namespace gateway::lab
