#include "base/http/serializer.hpp"

#include <array>
#include <charconv>
#include <cstdio>
#include <cstring>

namespace gateway::http {

namespace {
// The fields but those `skip` is true for, then the blank line.
template <class Skip>
void append_fields(const HeaderMap& h, std::string& out, Skip skip) {
  h.for_each([&](const HeaderMap::Field& f) {
    if (skip(f.name)) return;
    out.append(f.name);
    out.append(": ");
    out.append(f.value);
    out.append(kCrlf);
  });
  out.append(kCrlf);
}

void append_fields(const HeaderMap& h, std::string& out) {
  append_fields(h, out, [](std::string_view) { return false; });
}

void append_int(long long v, std::string& out) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  (void)ec;
  out.append(buf, end);
}
}  // namespace

void serialize_request_head(const Request& req, std::string& out) {
  out.append(req.method);
  out.push_back(' ');
  out.append(req.target);
  out.append(" HTTP/1.1\r\n");
  append_fields(req.headers, out);
}

namespace {
void append_status_line(const Response& resp, std::string& out) {
  out.append("HTTP/1.1 ");
  append_int(resp.status, out);
  out.push_back(' ');
  if (resp.reason.empty()) out.append(reason_phrase(resp.status));
  else out.append(resp.reason);
  out.append(kCrlf);
}
}  // namespace

void serialize_response_head(const Response& resp, std::string& out) {
  append_status_line(resp, out);
  append_fields(resp.headers, out);
}

void serialize_interim_head(const Response& resp, std::string& out) {
  append_status_line(resp, out);
  append_fields(resp.headers, out, [](std::string_view name) {
    return iequals(name, "Content-Length") || iequals(name, "Transfer-Encoding");
  });
}

bool parse_response_head(std::string_view head, Response& out) {
  out.clear();
  auto eol = head.find(kCrlf);
  auto status_line = head.substr(0, eol);
  if (status_line.size() < 12 || status_line.substr(0, 9) != "HTTP/1.1 ") return false;
  int status = 0;
  auto [p, ec] = std::from_chars(status_line.data() + 9, status_line.data() + 12, status);
  if (ec != std::errc{} || p != status_line.data() + 12 || status < 100 || status > 599) return false;
  out.status = status;
  out.reason = std::string(status_line.size() > 13 ? status_line.substr(13) : std::string_view{});
  while (eol != std::string_view::npos) {
    head.remove_prefix(eol + 2);
    eol = head.find(kCrlf);
    auto line = head.substr(0, eol);
    if (line.empty()) break;
    auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return false;
    auto value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    out.headers.add(line.substr(0, colon), value);
  }
  return true;
}

void append_chunk_header(std::size_t n, std::string& out) {
  char buf[20];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n, 16);
  (void)ec;
  out.append(buf, end);
  out.append(kCrlf);
}

namespace {
constexpr std::array<std::string_view, 8> kHopByHop = {
    "Connection", "Keep-Alive", "Proxy-Connection", "TE",
    "Trailer",    "Transfer-Encoding", "Upgrade", "Proxy-Authenticate"};
}  // namespace

std::string_view frame_chunk(std::size_t n, bool last, std::string& prefix) {
  if (n == 0) return last ? kLastChunk : std::string_view{};
  append_chunk_header(n, prefix);
  return last ? std::string_view("\r\n0\r\n\r\n") : kCrlf;
}

bool is_hop_by_hop(std::string_view name) noexcept {
  for (auto n : kHopByHop)
    if (iequals(n, name)) return true;
  return false;
}

void remove_hop_by_hop(HeaderMap& headers) {
  // Fields named in Connection are hop-by-hop too (RFC 9110 7.6.1). Collect
  // them first: removing invalidates views into the map.
  std::string named = headers.get_all("Connection");
  for_each_token(named, [&](std::string_view token) { headers.remove(token); });
  for (auto n : kHopByHop) headers.remove(n);
}

namespace {
constexpr std::array<const char*, 7> kDays = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr std::array<const char*, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
int month_index(std::string_view m) {
  for (int i = 0; i < 12; ++i)
    if (m == kMonths[i]) return i;
  return -1;
}
}  // namespace

std::string format_http_date(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  int n = std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[tm.tm_wday], tm.tm_mday,
                        kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return std::string(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
}

std::optional<std::time_t> parse_http_date(std::string_view s) {
  // Copy into a NUL-terminated buffer for sscanf; dates are short.
  if (s.size() >= 64) return std::nullopt;
  char buf[64];
  std::memcpy(buf, s.data(), s.size());
  buf[s.size()] = '\0';
  char wday[16], mon[4];
  int day, year, hh, mm, ss;
  std::tm tm{};
  if (std::sscanf(buf, "%3s, %2d %3s %4d %2d:%2d:%2d GMT", wday, &day, mon, &year, &hh, &mm, &ss) == 7) {
    // IMF-fixdate
  } else if (std::sscanf(buf, "%15[A-Za-z], %2d-%3s-%2d %2d:%2d:%2d GMT", wday, &day, mon, &year, &hh, &mm, &ss) == 7) {
    year += year < 70 ? 2000 : 1900;  // RFC 850
  } else if (std::sscanf(buf, "%3s %3s %2d %2d:%2d:%2d %4d", wday, mon, &day, &hh, &mm, &ss, &year) == 7) {
    // asctime
  } else {
    return std::nullopt;
  }
  int m = month_index(mon);
  if (m < 0 || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60) return std::nullopt;
  tm.tm_year = year - 1900;
  tm.tm_mon = m;
  tm.tm_mday = day;
  tm.tm_hour = hh;
  tm.tm_min = mm;
  tm.tm_sec = ss;
  return timegm(&tm);
}

}  // namespace gateway::http
