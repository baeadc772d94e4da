// Just enough JSON writing for the admin pages, aggregates and the JSON
// access log: string escaping (RFC 8259 7).
#pragma once

#include <cstdio>
#include <string>
#include <string_view>

namespace gateway::json {

namespace detail {
// The escape for one ASCII byte, or false if it goes out as it is.
inline bool append_escape(std::string& out, unsigned char c) {
  switch (c) {
    case '"': out += "\\\""; return true;
    case '\\': out += "\\\\"; return true;
    case '\n': out += "\\n"; return true;
    case '\r': out += "\\r"; return true;
    case '\t': out += "\\t"; return true;
    case '\b': out += "\\b"; return true;
    case '\f': out += "\\f"; return true;
    default:
      if (c < 0x20 || c == 0x7f) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", c);
        out += buf;
        return true;
      }
      return false;
  }
}

// The length of the well-formed UTF-8 sequence (RFC 3629 4: no overlong
// forms, no surrogates, nothing above U+10FFFF) that starts s[i], or 0.
inline std::size_t utf8_length(std::string_view s, std::size_t i) {
  auto at = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = at(i);
  std::size_t n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  unsigned char lo = 0x80, hi = 0xbf;  // the second byte's range
  if (c == 0xe0) lo = 0xa0;
  if (c == 0xed) hi = 0x9f;
  if (c == 0xf0) lo = 0x90;
  if (c == 0xf4) hi = 0x8f;
  if (at(i + 1) < lo || at(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k)
    if (at(i + k) < 0x80 || at(i + k) > 0xbf) return 0;
  return n;
}
}  // namespace detail

// Appends s as a quoted JSON string; bytes of 0x80 and above pass through
// as they are (the caller's text is UTF-8).
inline void append_string(std::string& out, std::string_view s) {
  out.push_back('"');
  for (unsigned char c : s)
    if (!detail::append_escape(out, c)) out.push_back(static_cast<char>(c));
  out.push_back('"');
}

// Appends s as a quoted JSON string that is valid UTF-8 whatever s holds
// (bytes from the network): each byte that starts no well-formed UTF-8
// sequence becomes U+FFFD, as Go's encoding/json and Python's
// errors="replace" do; control bytes and DEL are escaped.
inline void append_string_lossy(std::string& out, std::string_view s) {
  out.push_back('"');
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if (!detail::append_escape(out, c)) out.push_back(static_cast<char>(c));
      ++i;
    } else if (std::size_t n = detail::utf8_length(s, i)) {
      out.append(s.substr(i, n));
      i += n;
    } else {
      out += "\\ufffd";
      ++i;
    }
  }
  out.push_back('"');
}

inline std::string quote(std::string_view s) {
  std::string out;
  append_string(out, s);
  return out;
}

}  // namespace gateway::json
