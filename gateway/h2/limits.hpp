// HTTP/2 decisions that need no socket: recognising the h2c preface, the
// token buckets that bound what a client may make the gateway do per
// connection (rapid reset, PING/SETTINGS floods), what a header block may
// hold, and the conversion between an HTTP/1 response head (as the handlers
// and the cache write it) and HTTP/2 response fields. Pure; table-tested in
// tests/unit/gateway/h2_limits_test.cpp. Used by gateway/h2/session.cpp on
// the worker that owns the connection.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/http/message.hpp"

namespace gateway::h2 {

// The client connection preface (RFC 9113 3.4).
inline constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// What the first bytes of a plain connection are: the preface, a part of
// it (read more), or something else (HTTP/1.x).
enum class PrefaceMatch { no, partial, yes };
PrefaceMatch match_preface(std::string_view first_bytes) noexcept;

// A token bucket: `burst` events at once, then `rate` per second. take()
// spends one token; false when none is left (the client is over budget).
class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;
  TokenBucket(std::uint32_t burst, std::uint32_t rate_per_second) noexcept
      : burst_(burst), rate_(rate_per_second), tokens_(burst) {}
  bool take(Clock::time_point now) noexcept;
  double tokens() const noexcept { return tokens_; }

 private:
  double burst_, rate_;
  double tokens_;
  Clock::time_point last_{};
  bool started_ = false;
};

// The frames of one header block (HEADERS then CONTINUATIONs), as their
// frame headers arrive: too many frames or too many bytes (compressed) is a
// CONTINUATION flood (CVE-2024-27316), answered with GOAWAY.
class HeaderBlockBudget {
 public:
  HeaderBlockBudget(std::size_t max_continuations, std::size_t max_bytes) noexcept
      : max_continuations_(max_continuations), max_bytes_(max_bytes) {}
  // A HEADERS (first = true) or CONTINUATION frame of `length` bytes;
  // false: over budget.
  bool on_frame(bool first, std::size_t length) noexcept;

 private:
  std::size_t max_continuations_, max_bytes_;
  std::size_t continuations_ = 0, bytes_ = 0;
};

// Fields that belong to one HTTP/1.1 connection and must not appear in
// HTTP/2 (RFC 9113 8.2.2): Connection, Keep-Alive, Proxy-Connection,
// Transfer-Encoding, Upgrade (and TE, except "trailers", on requests).
bool connection_specific(std::string_view name) noexcept;

// A response as HTTP/2 fields: ":status" first, then the fields of `resp`
// with lowercase names, connection-specific ones dropped.
using Fields = std::vector<std::pair<std::string, std::string>>;
Fields response_fields(const http::Response& resp);
// The same from a serialised HTTP/1 head (status line and "Name: value"
// CRLF lines, as a stored response keeps it) plus `extra` lines. False if
// it does not parse.
bool head_to_fields(std::string_view head, std::string_view extra, Fields& out, int& status);
// "Name: value\r\n" lines (trailer fields) as HTTP/2 fields.
Fields lines_to_fields(std::string_view lines);

// A request field from HTTP/2 added to `req` (pseudo-fields set method,
// target and Host). Cookie crumbs are joined with "; " for HTTP/1.1 (RFC
// 9113 8.2.3) by the caller through `cookies`. False: a malformed request
// (a connection-specific field, an unknown pseudo-field).
bool add_request_field(http::Request& req, std::string_view name, std::string_view value, std::string& authority,
                       std::string& cookies);
// After the last field: Host from :authority, Cookie, and whether the
// request is well-formed enough to route; empty: good, else why not.
std::string_view finish_request(http::Request& req, const std::string& authority, const std::string& cookies);

}  // namespace gateway::h2
