#include "base/http/message.hpp"

#include <cassert>

namespace gateway::http {

namespace {
constexpr char lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? char(c + 32) : c; }
}  // namespace

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = lower(c);
  return out;
}

namespace {
bool is_hex(char c) noexcept { return (c >= '0' && c <= '9') || (lower(c) >= 'a' && lower(c) <= 'f'); }
bool is_alnum(char c) noexcept { return (c >= '0' && c <= '9') || (lower(c) >= 'a' && lower(c) <= 'z'); }
// RFC 3986 2.3 unreserved and 2.2 sub-delims.
bool is_reg_name_char(char c) noexcept {
  return is_alnum(c) || std::string_view("-._~!$&'()*+,;=").find(c) != std::string_view::npos;
}
}  // namespace

bool valid_host(std::string_view host) noexcept {
  std::string_view name = host;
  std::string_view port;
  if (!host.empty() && host.front() == '[') {
    // IP-literal: IPv6 (hex digits, ':' and '.') or IPvFuture ("v" 1*HEXDIG
    // "." then unreserved / sub-delims / ":").
    auto close = host.find(']');
    if (close == std::string_view::npos) return false;
    auto literal = host.substr(1, close - 1);
    if (literal.empty()) return false;
    bool future = lower(literal.front()) == 'v';
    for (char c : literal)
      if (!(is_hex(c) || c == ':' || c == '.' || (future && (is_reg_name_char(c) || lower(c) == 'v')))) return false;
    auto rest = host.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return false;
    name = host.substr(0, close + 1);
    port = rest.empty() ? rest : rest.substr(1);
    if (!rest.empty() && port.empty()) return false;
  } else {
    auto colon = host.find(':');
    if (colon != std::string_view::npos) {
      name = host.substr(0, colon);
      port = host.substr(colon + 1);
      if (port.empty() || name.empty()) return false;
    }
    for (std::size_t i = 0; i < name.size(); ++i) {
      char c = name[i];
      if (c == '%') {
        if (i + 2 >= name.size() || !is_hex(name[i + 1]) || !is_hex(name[i + 2])) return false;
        i += 2;
      } else if (!is_reg_name_char(c)) {
        return false;
      }
    }
  }
  if (port.size() > 5) return false;
  for (char c : port)
    if (c < '0' || c > '9') return false;
  return true;
}

bool has_token(std::string_view list, std::string_view token) noexcept {
  bool found = false;
  for_each_token(list, [&](std::string_view item) { found = found || iequals(item, token); });
  return found;
}

void HeaderMap::add(std::string_view name, std::string_view value) {
  begin_field();
  append_name(name);
  append_value(value);
}

void HeaderMap::set(std::string_view name, std::string_view value) {
  remove(name);
  add(name, value);
}

std::size_t HeaderMap::remove(std::string_view name) noexcept {
  std::size_t n = 0;
  for (auto& s : slots_) {
    if (!s.dead && iequals(view(s.name_off, s.name_len), name)) {
      s.dead = true;
      ++n;
    }
  }
  live_ -= n;
  return n;
}

std::optional<std::string_view> HeaderMap::get(std::string_view name) const noexcept {
  for (const auto& s : slots_)
    if (!s.dead && iequals(view(s.name_off, s.name_len), name)) return view(s.value_off, s.value_len);
  return std::nullopt;
}

std::size_t HeaderMap::count(std::string_view name) const noexcept {
  std::size_t n = 0;
  for (const auto& s : slots_)
    if (!s.dead && iequals(view(s.name_off, s.name_len), name)) ++n;
  return n;
}

std::string HeaderMap::get_all(std::string_view name) const {
  std::string out;
  for_each([&](const Field& f) {
    if (!iequals(f.name, name)) return;
    if (!out.empty()) out += ", ";
    out += f.value;
  });
  return out;
}

void HeaderMap::begin_field() {
  if (slots_.capacity() == 0) {
    // Room for a typical head at once, instead of growing by doubling:
    // two allocations for a fresh map (an upstream's response) instead of eight.
    slots_.reserve(16);
    store_.reserve(512);
  }
  auto off = static_cast<std::uint32_t>(store_.size());
  slots_.push_back(Slot{off, 0, off, 0, false});
  ++live_;
}

void HeaderMap::append_name(std::string_view piece) {
  assert(!slots_.empty() && slots_.back().value_len == 0);
  auto& s = slots_.back();
  store_.append(piece);
  s.name_len += static_cast<std::uint32_t>(piece.size());
  s.value_off = s.name_off + s.name_len;
}

void HeaderMap::append_value(std::string_view piece) {
  assert(!slots_.empty());
  auto& s = slots_.back();
  store_.append(piece);
  s.value_len += static_cast<std::uint32_t>(piece.size());
}

std::string_view Request::path() const noexcept {
  std::string_view t = target;
  return t.substr(0, t.find('?'));
}

std::string_view Request::query() const noexcept {
  std::string_view t = target;
  auto q = t.find('?');
  return q == std::string_view::npos ? std::string_view{} : t.substr(q + 1);
}

void Request::clear() noexcept {
  method.clear();
  target.clear();
  version_minor = 1;
  headers.clear();
  keep_alive = true;
  chunked = false;
  content_length.reset();
  expect_continue = false;
  tls = false;
}

bool is_idempotent(std::string_view m) noexcept {
  return m == "GET" || m == "HEAD" || m == "OPTIONS" || m == "TRACE" || m == "PUT" || m == "DELETE";
}

void Response::clear() noexcept {
  status = 200;
  reason.clear();
  version_minor = 1;
  headers.clear();
  keep_alive = true;
  chunked = false;
  content_length.reset();
}

bool response_has_body(int status, bool head_request) noexcept {
  return !head_request && status >= 200 && status != 204 && status != 304;
}

std::string_view reason_phrase(int status) noexcept {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 102: return "Processing";
    case 103: return "Early Hints";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 203: return "Non-Authoritative Information";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

}  // namespace gateway::http
