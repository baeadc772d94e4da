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
  return eol == std::string_view::npos || parse_field_lines(head.substr(eol + 2), out.headers);
}

bool parse_field_lines(std::string_view lines, HeaderMap& out) {
  while (!lines.empty()) {
    auto eol = lines.find(kCrlf);
    auto line = lines.substr(0, eol);
    if (line.empty()) break;
    lines.remove_prefix(eol == std::string_view::npos ? lines.size() : eol + 2);
    auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return false;
    auto value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    out.add(line.substr(0, colon), value);
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

namespace {

// A cursor over a date, each step exact: the grammar of RFC 9110 5.6.7
// fixes every character, so one-digit hours, other zones, doubled spaces or
// trailing text fail (RFC 9111 5.3: an invalid Expires is in the past).
struct DateReader {
  std::string_view s;
  bool ok = true;

  bool literal(std::string_view lit) {
    ok = ok && s.substr(0, lit.size()) == lit;
    if (ok) s.remove_prefix(lit.size());
    return ok;
  }
  // Exactly n digits (a leading space stands for a zero with `space_pad`,
  // asctime's "Nov  6").
  int digits(std::size_t n, bool space_pad = false) {
    int v = 0;
    for (std::size_t i = 0; ok && i < n; ++i) {
      const char c = i < s.size() ? s[i] : '\0';
      if (c >= '0' && c <= '9') v = v * 10 + (c - '0');
      else ok = space_pad && i == 0 && c == ' ';
    }
    if (ok) s.remove_prefix(n);
    return v;
  }
  int month() {
    const int m = ok && s.size() >= 3 ? month_index(s.substr(0, 3)) : -1;
    ok = ok && m >= 0;
    if (ok) s.remove_prefix(3);
    return m;
  }
  // One of `names`, followed by `after`.
  template <std::size_t N>
  void name(const std::array<const char*, N>& names, std::string_view after) {
    for (const char* n : names) {
      const std::string_view name(n);
      if (s.substr(0, name.size()) == name && s.substr(name.size(), after.size()) == after) {
        s.remove_prefix(name.size() + after.size());
        return;
      }
    }
    ok = false;
  }
  // time-of-day = hour ":" minute ":" second, each 2DIGIT.
  void time(int& hh, int& mm, int& ss) {
    hh = digits(2);
    literal(":");
    mm = digits(2);
    literal(":");
    ss = digits(2);
  }
};

struct DateFields {
  int day = 0, month = -1, year = 0, hh = 0, mm = 0, ss = 0;
};

// IMF-fixdate's date1 (`sep` " ", a 4-digit year) or rfc850-date's date2
// (`sep` "-", 2 digits), then SP time-of-day SP "GMT".
void read_date_time_gmt(DateReader& r, std::string_view sep, std::size_t year_digits, DateFields& f) {
  f.day = r.digits(2);
  r.literal(sep);
  f.month = r.month();
  r.literal(sep);
  f.year = r.digits(year_digits);
  r.literal(" ");
  r.time(f.hh, f.mm, f.ss);
  r.literal(" GMT");
}

constexpr std::array<const char*, 7> kLongDays = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                                  "Thursday", "Friday", "Saturday"};

bool leap_year(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int days_in_month(int month, int year) {
  constexpr int kMonthDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 1 && leap_year(year) ? 29 : kMonthDays[month];
}

}  // namespace

std::optional<std::time_t> parse_http_date(std::string_view s) {
  DateFields f;
  DateReader r{s};
  if (s.size() > 3 && s[3] == ',') {
    // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
    r.name(kDays, ", ");
    read_date_time_gmt(r, " ", 4, f);
  } else if (s.find(',') != std::string_view::npos) {
    // rfc850-date: "Sunday, 06-Nov-94 08:49:37 GMT"
    r.name(kLongDays, ", ");
    read_date_time_gmt(r, "-", 2, f);
    f.year += f.year < 70 ? 2000 : 1900;
  } else {
    // asctime-date: "Sun Nov  6 08:49:37 1994"
    r.name(kDays, " ");
    f.month = r.month();
    r.literal(" ");
    f.day = r.digits(2, true);
    r.literal(" ");
    r.time(f.hh, f.mm, f.ss);
    r.literal(" ");
    f.year = r.digits(4);
  }
  if (!r.ok || !r.s.empty()) return std::nullopt;
  if (f.day < 1 || f.day > days_in_month(f.month, f.year) || f.hh > 23 || f.mm > 59 || f.ss > 60) return std::nullopt;
  std::tm tm{};
  tm.tm_year = f.year - 1900;
  tm.tm_mon = f.month;
  tm.tm_mday = f.day;
  tm.tm_hour = f.hh;
  tm.tm_min = f.mm;
  tm.tm_sec = f.ss;
  return timegm(&tm);
}

}  // namespace gateway::http
