// Writes a trace in the gateway's format (cache/trace_format.hpp) or as
// CSV `time,key,size,ttl` (what the readers read back). Used by `synth`.
#pragma once

#include <ostream>
#include <string>

#include "lab/trace.hpp"

namespace gateway::lab {

// A request's key as CSV text: synth names objects by number, so the
// writer is given the numbers alongside (keys[i] for requests[i]).
void write_gateway_trace(std::ostream& out, const Trace& trace);
void write_csv_trace(std::ostream& out, const Trace& trace, const std::vector<std::uint64_t>& object_numbers);

}  // namespace gateway::lab
