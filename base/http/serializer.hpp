// Messages back to bytes, and the hop-by-hop rules a proxy applies between the
// two connections of an exchange. Pure functions; no thread affinity.
#pragma once

#include <cstddef>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

#include "base/http/message.hpp"

namespace gateway::http {

inline constexpr std::string_view kCrlf = "\r\n";
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";

// Appends "METHOD target HTTP/1.1\r\n", the fields and the blank line.
void serialize_request_head(const Request& req, std::string& out);
// Appends "HTTP/1.1 status reason\r\n", the fields and the blank line.
void serialize_response_head(const Response& resp, std::string& out);
// The same for an interim (1xx) response, which has no body: without
// Content-Length and Transfer-Encoding (RFC 9110 8.6, RFC 9112 6.1: a
// server sends neither in a 1xx).
void serialize_interim_head(const Response& resp, std::string& out);
// The inverse of serialize_response_head for heads this program wrote
// itself (stored responses): status line and "Name: value" lines, CRLF
// separated, the blank line optional. False if it is not such a head.
bool parse_response_head(std::string_view head, Response& out);
// The "Name: value" lines of a head or a trailer, CRLF separated, up to a
// blank line or the end, added to `out` (values without the blanks around
// them). False at a line that is no field; the lines before it are added.
bool parse_field_lines(std::string_view lines, HeaderMap& out);

// Appends the size line of a chunk of n bytes ("1a2b\r\n").
void append_chunk_header(std::size_t n, std::string& out);
// Chunked framing around a run of n body bytes: appends the size line (if
// n > 0) to `prefix` and returns what must follow the bytes ("\r\n", and
// the last chunk if `last`).
std::string_view frame_chunk(std::size_t n, bool last, std::string& prefix);

// Connection, Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding,
// Upgrade (RFC 9110 7.6.1).
bool is_hop_by_hop(std::string_view name) noexcept;
// Removes the hop-by-hop fields and every field the Connection header names.
void remove_hop_by_hop(HeaderMap& headers);

// IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 9110 5.6.7).
std::string format_http_date(std::time_t t);
// Accepts IMF-fixdate and the two obsolete forms (RFC 9110 5.6.7), exactly
// as their grammar spells them: nullopt for anything else (a one-digit hour,
// a zone other than GMT, extra spaces, trailing text, 31 Feb).
std::optional<std::time_t> parse_http_date(std::string_view s);

}  // namespace gateway::http
