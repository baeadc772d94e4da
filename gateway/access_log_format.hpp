// The access log's lines, as pure functions of what one exchange did:
// nginx's "combined" format followed by key=value fields, or one JSON object
// (`access_log: {format: json}`) with the combined format's fields under
// nginx's variable names plus the gateway's own. Used by AccessLog
// (gateway/access_log.hpp) on the worker that served the exchange.
#pragma once

#include <chrono>
#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

#include "gateway/config.hpp"
#include "gateway/exchange.hpp"

namespace gateway {

// One exchange, as the log sees it. Every view points into the request or
// its RequestInfo and lives as long as the call.
struct AccessRecord {
  std::string_view client;  // the client (behind trusted proxies) or the peer
  std::time_t time = 0;     // when the line is written
  std::string_view method;
  std::string_view target;
  std::string_view protocol;  // "HTTP/1.1", "HTTP/2.0"
  int status = 0;
  std::uint64_t body_bytes = 0;
  std::string_view referer;     // empty: none
  std::string_view user_agent;  // empty: none
  std::chrono::microseconds elapsed{0};
  const RequestInfo* info = nullptr;  // never null
};

// The time field as `format` writes it: "[06/Dec/2026:10:45:00 +0000]"
// (combined) or "2026-12-06T10:45:00Z" (json, RFC 3339 UTC). AccessLog keeps
// the last one and makes a new one once a second.
std::string access_log_time(AccessLogFormat format, std::time_t time);

// Appends one line (with its '\n') for `r`; `time` is access_log_time's
// text for r.time.
//
// combined: CLIENT - - TIME "METHOD TARGET PROTOCOL" STATUS BYTES "REFERER"
//   "USER-AGENT" rt= route= upstream= instance= urt= tries= cache= tls=
//   [tunnel_in= tunnel_end=]; quotes, backslashes and control bytes in the
//   quoted fields are escaped (\" \\ \xHH), and so in the request line.
// json: {"time", "remote_addr", "request", "method", "uri", "protocol",
//   "status", "body_bytes_sent", "http_referer", "http_user_agent",
//   "request_time", "route", "upstream", "instance",
//   "upstream_response_time", "tries", "cache", "tls"[, "tunnel_in",
//   "tunnel_end"]}; seconds as numbers with 3 decimals, what is absent as
//   null; strings are valid UTF-8 whatever the client sent (json::
//   append_string_lossy: an invalid byte becomes U+FFFD).
void format_access_line(std::string& out, AccessLogFormat format, const AccessRecord& r, std::string_view time);

}  // namespace gateway
