#include "bench/sample_service/knobs.hpp"

#include <cstring>

#include "base/http/serializer.hpp"
#include "base/http/url.hpp"

namespace bench {

namespace http = gateway::http;
using namespace std::literals;

namespace {
bool is_truthy(std::string_view v) { return v == "1" || v == "true" || v == "yes" || v == "on"; }

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s)
    if (c <= 0x20 || c >= 0x7f || std::strchr("\"(),/:;<=>?@[\\]{}", c)) return false;
  return true;
}
}  // namespace

bool is_safe_value(std::string_view s) { return s.find_first_of("\r\n\0"sv) == std::string_view::npos; }

void Knobs::clear() {
  delay_ms = delay_body_ms = 0;
  delay_set = false;
  size.reset();
  status = 0;
  chunked = close = echo_body = false;
  fail = Fail::none;
  cache_control_set = false;
  cache_control.clear();
  etag.clear();
  vary.clear();
  last_modified.reset();
  expires.reset();
  extra.clear();
}

void Knobs::parse(std::string_view query, std::string& scratch) {
  while (!query.empty()) {
    auto amp = query.find('&');
    auto part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    auto eq = part.find('=');
    http::url_decode(eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1), scratch);
    apply(part.substr(0, eq), scratch);
  }
}

// Unknown keys are ignored, so callers can add their own (cache busters);
// so are malformed values, leaving the endpoint's default.
void Knobs::apply(std::string_view key, std::string_view v) {
  if (key == "delay_ms") {
    if (auto n = parse_number<std::uint64_t>(v)) delay_ms = *n, delay_set = true;
  } else if (key == "delay_body_ms") {
    if (auto n = parse_number<std::uint64_t>(v)) delay_body_ms = *n;
  } else if (key == "size") {
    size = parse_number<std::uint64_t>(v);
  } else if (key == "status") {
    // 1xx cannot be a final status: the client would wait for another one.
    if (auto n = parse_number<int>(v); n && *n >= 200 && *n <= 599) status = *n;
  } else if (key == "chunked") {
    chunked = is_truthy(v);
  } else if (key == "close") {
    close = is_truthy(v);
  } else if (key == "echo_body") {
    echo_body = is_truthy(v);
  } else if (key == "fail") {
    fail = v == "reset" ? Fail::reset : v == "hang" ? Fail::hang : Fail::none;
  } else if (key == "last_modified") {
    if (auto n = parse_number<std::int64_t>(v)) last_modified = static_cast<std::time_t>(*n);
    else last_modified = http::parse_http_date(v);
  } else if (key == "expires") {
    expires = parse_number<std::int64_t>(v);
  } else if (!is_safe_value(v)) {
    return;  // the remaining knobs are copied into the head
  } else if (key == "cache_control") {
    cache_control.assign(v);
    cache_control_set = true;
  } else if (key == "etag") {
    bool quoted = v.starts_with('"') || v.starts_with("W/\"");
    if (v.empty()) etag.clear();
    else if (quoted) etag.assign(v);
    else etag.assign("\"").append(v).append("\"");
  } else if (key == "vary") {
    vary.assign(v);
  } else if (key == "set_cookie") {
    extra.add("Set-Cookie", v);
  } else if (key == "header") {
    // Added verbatim, framing fields included: a test may want a malformed
    // upstream response on purpose.
    auto colon = v.find(':');
    if (colon == std::string_view::npos || !is_token(v.substr(0, colon))) return;
    auto value = v.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    extra.add(v.substr(0, colon), value);
  }
}

bool etag_matches(std::string_view if_none_match, std::string_view etag) {
  auto opaque = [](std::string_view t) { return t.starts_with("W/") ? t.substr(2) : t; };
  bool match = false;
  http::for_each_token(if_none_match, [&](std::string_view t) { match = match || t == "*" || opaque(t) == opaque(etag); });
  return match;
}

}  // namespace bench
