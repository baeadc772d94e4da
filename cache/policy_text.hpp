// Text helpers shared by the policy files (policy.cpp, policy_keys.cpp,
// policy_messages.cpp), which take them all with `using namespace
// policy_text`: optional whitespace, delta-seconds, HTTP-date fields, and
// the names of base/http they use. Internal to the cache library; pure,
// callable from any thread.
#pragma once

#include <algorithm>
#include <optional>
#include <string_view>

#include "base/http/message.hpp"
#include "base/http/serializer.hpp"
#include "cache/policy.hpp"

namespace gateway::cache::policy_text {

using http::HeaderMap;
using http::iequals;
using http::lowercase;

// RFC 9111 1.2.2: a delta-seconds too large to represent counts as 2^31.
inline constexpr Seconds kMaxDelta = Seconds{1} << 31;

// OWS (RFC 9110 5.6.3).
inline bool is_ows(char c) noexcept { return c == ' ' || c == '\t'; }

// tchar (RFC 9110 5.6.2).
inline bool is_tchar(char c) noexcept {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// token = 1*tchar
inline bool is_token(std::string_view s) noexcept {
  return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar);
}

inline std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

// delta-seconds = 1*DIGIT (RFC 9111 1.2.2); nullopt if malformed.
inline std::optional<Seconds> parse_delta(std::string_view s) {
  if (s.empty()) return std::nullopt;
  Seconds v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    if (v <= kMaxDelta) v = v * 10 + (c - '0');
  }
  return std::min(v, kMaxDelta);
}

// The first `name` field as an HTTP-date; nullopt if absent or invalid.
inline std::optional<Seconds> header_date(const http::HeaderMap& h, std::string_view name) {
  auto v = h.get(name);
  if (!v) return std::nullopt;
  auto t = http::parse_http_date(trim(*v));
  if (!t) return std::nullopt;
  return Seconds(*t);
}

}  // namespace gateway::cache::policy_text
