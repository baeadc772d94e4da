// Query strings: application/x-www-form-urlencoded decoding and lookup.
// Pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace gateway::http {

// '+' is a space and %XX a byte; a malformed escape is kept literally.
inline void url_decode(std::string_view in, std::string& out) {
  auto hex = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '+') {
      out += ' ';
    } else if (in[i] == '%' && i + 2 < in.size() && hex(in[i + 1]) >= 0 && hex(in[i + 2]) >= 0) {
      out += static_cast<char>(hex(in[i + 1]) * 16 + hex(in[i + 2]));
      i += 2;
    } else {
      out += in[i];
    }
  }
}

// Calls f(name, raw_value) for each name=value of a query string, in order.
template <class F>
void for_each_query_param(std::string_view query, F&& f) {
  while (!query.empty()) {
    auto amp = query.find('&');
    auto part = query.substr(0, amp);
    auto eq = part.find('=');
    if (!part.empty()) f(part.substr(0, eq), eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
}

// The decoded value of the first parameter called `name`.
inline std::optional<std::string> query_param(std::string_view query, std::string_view name) {
  std::optional<std::string> out;
  for_each_query_param(query, [&](std::string_view n, std::string_view v) {
    if (out || n != name) return;
    out.emplace();
    url_decode(v, *out);
  });
  return out;
}

}  // namespace gateway::http
