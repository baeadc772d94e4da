// Trace readers: the gateway's format, CSV and oracleGeneral (see
// trace_reader.hpp).
#include "lab/trace_reader.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <fstream>
#include <iterator>
#include <sstream>
#include <unordered_set>

#include "base/hash.hpp"
#include "cache/trace_format.hpp"

namespace gateway::lab {
namespace {

// The whole file in one read (traces are read once, then replayed from
// memory); a pipe or special file is read to its end.
std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw LabError(path + ": cannot open");
  std::string bytes;
  if (in.seekg(0, std::ios::end)) {
    const std::streamoff size = in.tellg();
    in.seekg(0);
    bytes.resize(static_cast<std::size_t>(std::max<std::streamoff>(size, 0)));
    in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (in.gcount() != static_cast<std::streamsize>(bytes.size())) throw LabError(path + ": read error");
  } else {
    in.clear();
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  return bytes;
}

[[noreturn]] void fail_at(const std::string& name, std::size_t offset, const std::string& what) {
  throw LabError(name + ":" + std::to_string(offset) + ": " + what);
}

const unsigned char* bytes_at(std::string_view bytes, std::size_t offset) {
  return reinterpret_cast<const unsigned char*>(bytes.data()) + offset;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Times past this many seconds do not fit the lab's µs (CSV's fractional seconds).
constexpr double kMaxSeconds = 1.8e13;

std::uint32_t clamp32(std::uint64_t v) {
  return v > 0xffffffffull ? 0xffffffffu : static_cast<std::uint32_t>(v);
}

}  // namespace

Footprint footprint(const std::vector<Request>& requests) {
  std::unordered_set<std::uint64_t> keys;
  keys.reserve(requests.size() / 2);
  Footprint f;
  for (const Request& r : requests) {
    if (keys.insert(r.key).second) f.bytes += r.size;
  }
  f.keys = keys.size();
  return f;
}

Footprint full_footprint(const Trace& trace) {
  const Footprint f = footprint(trace.requests);
  return Footprint{.keys = static_cast<std::uint64_t>(static_cast<double>(f.keys) / trace.sample_rate),
                   .bytes = static_cast<std::uint64_t>(static_cast<double>(f.bytes) / trace.sample_rate)};
}

std::optional<TraceFormat> parse_trace_format(std::string_view name) {
  if (name == "gateway") return TraceFormat::gateway;
  if (name == "csv") return TraceFormat::csv;
  if (name == "oracle" || name == "oracleGeneral") return TraceFormat::oracle;
  return std::nullopt;
}

TraceFormat detect_format(const std::string& path, std::string_view head) {
  if (head.size() >= cache::kTraceMagic.size() &&
      head.substr(0, cache::kTraceMagic.size()) == std::string_view(cache::kTraceMagic.data(), cache::kTraceMagic.size()))
    return TraceFormat::gateway;
  if (path.find("oracleGeneral") != std::string::npos) return TraceFormat::oracle;
  if (ends_with(path, ".csv")) return TraceFormat::csv;
  // Text that starts like a row (a digit) or a header line ("time,...").
  if (!head.empty() && (std::isdigit(static_cast<unsigned char>(head[0])) || head.starts_with("time,") ||
                        head[0] == '#'))
    return TraceFormat::csv;
  throw LabError(path + ": unknown trace format (no GWTRACE1 magic, not .csv, not oracleGeneral): use --trace-format");
}

void parse_gateway_trace(const std::string& name, std::string_view bytes, Trace& into, bool first_file) {
  if (bytes.size() < cache::kTraceRecordSize) fail_at(name, 0, "too short for a trace header");
  auto header = cache::decode_header(bytes_at(bytes, 0));
  if (!header) fail_at(name, 0, "not a version-1 gateway trace (magic GWTRACE1, record size 32)");
  const double rate = static_cast<double>(header->sample) / cache::kTraceSampleAll;
  if (first_file) into.sample_rate = rate;
  else if (rate != into.sample_rate)
    fail_at(name, 16, "sampled at " + std::to_string(rate) + ", the files before at " + std::to_string(into.sample_rate));
  // Route indexes restart in each file: map them onto the trace's one table.
  std::vector<std::uint16_t> routes;
  into.requests.reserve(into.requests.size() + bytes.size() / cache::kTraceRecordSize);
  std::size_t offset = cache::kTraceRecordSize;
  while (offset < bytes.size()) {
    if (bytes.size() - offset < cache::kTraceRecordSize) fail_at(name, offset, "truncated record");
    const cache::TraceRecord r = cache::decode_record(bytes_at(bytes, offset));
    if (r.status == cache::kTraceRouteName) {
      const std::size_t padded = cache::trace_name_padded(r.size);
      if (bytes.size() - offset - cache::kTraceRecordSize < padded) fail_at(name, offset, "truncated route name");
      const std::string route(bytes.substr(offset + cache::kTraceRecordSize, r.size));
      if (routes.size() <= r.route) routes.resize(r.route + 1, kNoRoute);
      std::uint16_t global = 0;
      while (global < into.routes.size() && into.routes[global] != route) ++global;
      if (global == into.routes.size()) into.routes.push_back(route);
      routes[r.route] = global;
      offset += cache::kTraceRecordSize + padded;
      continue;
    }
    if (r.status > 6) fail_at(name, offset, "bad cache status " + std::to_string(r.status));
    if (r.route >= routes.size() || routes[r.route] == kNoRoute)
      fail_at(name, offset, "route " + std::to_string(r.route) + " used before its name record");
    into.requests.push_back(Request{.time_us = r.time_us, .key = r.key, .size = r.size, .body = r.body,
                                    .ttl = r.ttl, .route = routes[r.route],
                                    .storable = (r.flags & cache::kTraceStorable) != 0 &&
                                                (r.flags & cache::kTraceRefused) == 0 && r.ttl > 0});
    offset += cache::kTraceRecordSize;
  }
}

std::uint64_t object_id(std::uint64_t n) { return mix64(n); }

std::uint64_t key_id(std::string_view key) {
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), n);
  if (ec == std::errc() && end == key.data() + key.size() && !key.empty()) return object_id(n);
  return hash64(key);
}

namespace {

// Splits one CSV line into fields; a field may be double-quoted ("" is a
// quote inside). False if a quote is left open.
bool split_csv(std::string_view line, std::vector<std::string>& fields) {
  fields.clear();
  std::string field;
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') field += '"', ++i;
      else if (c == '"') quoted = false;
      else field += c;
    } else if (c == '"' && field.empty()) {
      quoted = true;
    } else if (c == ',') {
      fields.push_back(std::move(field));
      field.clear();
    } else {
      field += c;
    }
  }
  fields.push_back(std::move(field));
  return !quoted;
}

template <typename T>
bool parse_number(std::string_view s, T& out) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size() && !s.empty();
}

}  // namespace

// time (seconds, may have a fraction), key, size (bytes), optional ttl
// (seconds; 0: not storable; absent: never expires).
void parse_csv_trace(const std::string& name, std::string_view text, Trace& into, std::uint64_t block) {
  std::vector<std::string> fields;
  std::size_t line_no = 0;
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line[0] == '#' || (line_no == 1 && line.starts_with("time,"))) continue;
    auto fail = [&](const std::string& what) { throw LabError(name + ":" + std::to_string(line_no) + ": " + what); };
    if (!split_csv(line, fields)) fail("unterminated quote");
    if (fields.size() != 3 && fields.size() != 4)
      fail("expected time,key,size[,ttl], got " + std::to_string(fields.size()) + " fields");
    double seconds = 0;
    // The lab keeps times in µs in 64 bits: up to ~584,000 years.
    if (!parse_number(fields[0], seconds) || !std::isfinite(seconds) || seconds < 0 || seconds >= kMaxSeconds)
      fail("bad time '" + fields[0] + "'");
    std::uint64_t size = 0;
    if (!parse_number(fields[2], size)) fail("bad size '" + fields[2] + "'");
    std::uint32_t ttl = kNoExpiry;
    if (fields.size() == 4 && !parse_number(fields[3], ttl)) fail("bad ttl '" + fields[3] + "'");
    if (fields[1].empty()) fail("empty key");
    into.requests.push_back(Request{.time_us = static_cast<std::uint64_t>(seconds * 1e6), .key = key_id(fields[1]),
                                    .size = clamp32(round_to_block(clamp32(size), block)), .body = clamp32(size), .ttl = ttl,
                                    .route = kNoRoute, .storable = ttl > 0});
  }
}

// Packed little-endian 24-byte records: u32 time (s), u64 id, u32 size,
// i64 next access (virtual time; unused here).
void parse_oracle_trace(const std::string& name, std::string_view bytes, Trace& into, std::uint64_t block) {
  constexpr std::size_t kRecord = 24;
  if (bytes.size() % kRecord != 0)
    fail_at(name, bytes.size() / kRecord * kRecord, "truncated oracleGeneral record (records are 24 bytes)");
  into.requests.reserve(into.requests.size() + bytes.size() / kRecord);
  for (std::size_t offset = 0; offset < bytes.size(); offset += kRecord) {
    const unsigned char* p = bytes_at(bytes, offset);
    const auto time = cache::trace_detail::get<std::uint32_t>(p);
    const auto id = cache::trace_detail::get<std::uint64_t>(p + 4);
    const auto size = cache::trace_detail::get<std::uint32_t>(p + 12);
    into.requests.push_back(Request{.time_us = time * 1000000ull, .key = object_id(id),
                                    .size = clamp32(round_to_block(size, block)), .body = size, .ttl = kNoExpiry,
                                    .route = kNoRoute, .storable = true});
  }
}

Trace read_traces(const std::vector<std::string>& paths, const ReadOptions& options) {
  if (paths.empty()) throw LabError("no trace file given");
  Trace trace;
  bool first_gateway = true;
  for (const std::string& path : paths) {
    const std::string bytes = read_file(path);
    const TraceFormat format = options.format ? *options.format : detect_format(path, std::string_view(bytes).substr(0, 64));
    switch (format) {
      case TraceFormat::gateway:
        parse_gateway_trace(path, bytes, trace, first_gateway);
        first_gateway = false;
        break;
      case TraceFormat::csv: parse_csv_trace(path, bytes, trace, options.block); break;
      case TraceFormat::oracle: parse_oracle_trace(path, bytes, trace, options.block); break;
    }
  }
  return trace;
}

}  // namespace gateway::lab
