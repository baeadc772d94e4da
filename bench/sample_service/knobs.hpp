// The query knobs with which a caller shapes any sample-service response
// (delay, size, status, cache headers, framing, failures), parsed from the
// request's query string.
//
// One Knobs per connection, cleared and refilled per request so its strings
// and header arena keep their capacity. No thread affinity.
#pragma once

#include <charconv>
#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "base/http/message.hpp"

namespace bench {

struct Knobs {
  enum class Fail { none, reset, hang };

  std::uint64_t delay_ms = 0, delay_body_ms = 0;
  bool delay_set = false;  // delay_ms given, even as 0: the default does not apply
  std::optional<std::uint64_t> size;
  int status = 0;  // 0: the endpoint's own
  bool chunked = false, close = false, echo_body = false;
  Fail fail = Fail::none;
  bool cache_control_set = false;
  std::string cache_control, etag, vary;  // etag already quoted
  std::optional<std::time_t> last_modified;
  std::optional<std::int64_t> expires;  // seconds from now
  gateway::http::HeaderMap extra;       // Set-Cookie and header= fields, in order

  void clear();
  // Applies every key=value of `query`; `scratch` holds decoded values.
  void parse(std::string_view query, std::string& scratch);
  void apply(std::string_view key, std::string_view value);
};

// If-None-Match against our ETag, by weak comparison (RFC 9110 13.1.2).
bool etag_matches(std::string_view if_none_match, std::string_view etag);

// A header value must not smuggle a line break into the response head.
bool is_safe_value(std::string_view s);

template <class T>
std::optional<T> parse_number(std::string_view s) {
  T v{};
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace bench
