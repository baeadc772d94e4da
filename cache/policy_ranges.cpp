// Range requests answered from a complete response (RFC 9110 14): parsing
// the Range field against a known length, If-Range, and the 206 / 416 heads
// and multipart/byteranges framing the cache answers with (see policy.hpp).
//
// Pure functions, no state: callable from any thread.
#include "cache/policy.hpp"

#include <limits>

#include "cache/policy_text.hpp"

namespace gateway::cache {

namespace {

using namespace policy_text;

constexpr std::uint64_t kNoPosition = std::numeric_limits<std::uint64_t>::max();

// 1*DIGIT, saturating at kNoPosition - 1; nullopt if empty or not digits.
std::optional<std::uint64_t> parse_position(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    const auto digit = static_cast<std::uint64_t>(c - '0');
    v = v > (kNoPosition - 1 - digit) / 10 ? kNoPosition - 1 : v * 10 + digit;
  }
  return v;
}

// One range-spec (RFC 9110 14.1.2): int-range "first-[last]" or
// suffix-range "-length". `out` is set for a satisfiable one; false for a
// syntax error or last < first (the whole field is then invalid).
bool parse_spec(std::string_view spec, std::uint64_t length, std::optional<ByteRange>& out) {
  const auto dash = spec.find('-');
  if (dash == std::string_view::npos) return false;
  const auto first = parse_position(spec.substr(0, dash));
  const auto tail = spec.substr(dash + 1);
  if (dash == 0) {  // suffix-range: satisfiable if non-zero (14.1.3)
    const auto suffix = parse_position(tail);
    if (!suffix) return false;
    if (*suffix > 0) out = ByteRange{length - std::min(*suffix, length), length - 1};
    return true;
  }
  if (!first) return false;
  std::uint64_t last = kNoPosition;
  if (!tail.empty()) {
    const auto l = parse_position(tail);
    if (!l || *l < *first) return false;
    last = *l;
  }
  if (*first < length) out = ByteRange{*first, std::min(last, length - 1)};
  return true;
}

void append_range(std::string& out, ByteRange r, std::uint64_t length) {
  out.append("bytes ").append(std::to_string(r.first)).append("-").append(std::to_string(r.last));
  out.append("/").append(std::to_string(length));
}

std::string content_range(ByteRange r, std::uint64_t length) {
  std::string out;
  append_range(out, r, length);
  return out;
}

}  // namespace

RangePlan parse_ranges(std::string_view range, std::uint64_t length) {
  RangePlan plan;
  range = trim(range);
  const auto eq = range.find('=');
  // RFC 9110 14.1: range units are case-insensitive; only bytes is known.
  if (eq == std::string_view::npos || !iequals(range.substr(0, eq), "bytes") || length == 0) return plan;
  std::vector<ByteRange> ranges;
  std::size_t specs = 0;
  std::string_view set = range.substr(eq + 1);
  while (!set.empty()) {
    const auto comma = set.find(',');
    const auto spec = trim(set.substr(0, comma));
    set = comma == std::string_view::npos ? std::string_view{} : set.substr(comma + 1);
    if (spec.empty()) continue;  // RFC 9110 5.6.1.2: empty list elements
    if (++specs > kMaxRanges) return plan;
    std::optional<ByteRange> r;
    if (!parse_spec(spec, length, r)) return plan;
    if (r) ranges.push_back(*r);
  }
  if (specs == 0) return plan;
  if (ranges.empty()) {
    plan.kind = RangePlan::Kind::unsatisfiable;
    return plan;
  }
  std::uint64_t total = 0;
  for (const auto& r : ranges) total += r.size();  // each <= length <= 2^64/16
  if (ranges.size() > 1 && total > length) return plan;
  plan.kind = RangePlan::Kind::partial;
  plan.ranges = std::move(ranges);
  return plan;
}

bool if_range_matches(std::string_view if_range, const http::HeaderMap& response) {
  if_range = trim(if_range);
  if (if_range.starts_with("W/")) return false;  // weak: never matches (13.1.5)
  if (if_range.starts_with('"')) {
    const auto etag = response.get("ETag");
    if (!etag) return false;
    const auto stored = trim(*etag);
    return !stored.starts_with("W/") && stored == if_range && if_range.size() >= 2 && if_range.back() == '"';
  }
  const auto date = http::parse_http_date(if_range);
  const auto last_modified = header_date(response, "Last-Modified");
  const auto response_date = header_date(response, "Date");
  if (!date || !last_modified || !response_date) return false;
  // 8.8.2.2: a Last-Modified is strong once the Date is a second later.
  return *response_date >= *last_modified + 1 && Seconds(*date) == *last_modified;
}

bool range_requested(const http::Request& req) { return req.method == "GET" && req.headers.contains("Range"); }

RangePlan range_plan(const http::Request& req, int status, const http::HeaderMap& response,
                     std::optional<std::uint64_t> length) {
  if (!range_requested(req) || status != 200 || !length) return {};
  // Range is one ranges-specifier: two field lines make it invalid.
  if (req.headers.count("Range") != 1) return {};
  // 13.1.5: If-Range that does not match means: ignore Range.
  if (req.headers.contains("If-Range") && !if_range_matches(req.headers.get_all("If-Range"), response)) return {};
  return parse_ranges(*req.headers.get("Range"), *length);
}

bool passes_range(const http::Request& req, const http::Response& resp, const RuleConfig& rule) {
  if (resp.chunked || !resp.content_length || *resp.content_length <= rule.range_fill_max) return false;
  return range_plan(req, resp.status, resp.headers, resp.content_length).kind != RangePlan::Kind::full;
}

void make_partial(http::Response& resp, ByteRange range, std::uint64_t length) {
  resp.status = 206;
  resp.reason.clear();
  resp.headers.set("Content-Range", content_range(range, length));
  resp.content_length = range.size();
  resp.chunked = false;
}

http::Response unsatisfiable_response(std::uint64_t length) {
  http::Response resp;
  resp.status = 416;
  resp.headers.set("Content-Range", "bytes */" + std::to_string(length));
  resp.content_length = 0;
  return resp;
}

Multipart make_multipart(http::Response& resp, const std::vector<ByteRange>& ranges, std::uint64_t length,
                         std::string_view boundary) {
  const auto type = resp.headers.get("Content-Type");
  const std::string content_type = type ? std::string(*type) : std::string();
  Multipart m;
  for (const auto& r : ranges) {
    std::string head = m.part_heads.empty() ? "--" : "\r\n--";
    head.append(boundary).append(http::kCrlf);
    if (!content_type.empty()) head.append("Content-Type: ").append(content_type).append(http::kCrlf);
    head.append("Content-Range: ");
    append_range(head, r, length);
    head.append(http::kCrlf).append(http::kCrlf);
    m.content_length += head.size() + r.size();
    m.part_heads.push_back(std::move(head));
  }
  m.end.append("\r\n--").append(boundary).append("--\r\n");
  m.content_length += m.end.size();
  resp.status = 206;
  resp.reason.clear();
  resp.headers.remove("Content-Range");
  resp.headers.set("Content-Type", "multipart/byteranges; boundary=" + std::string(boundary));
  resp.content_length = m.content_length;
  resp.chunked = false;
  return m;
}

}  // namespace gateway::cache
