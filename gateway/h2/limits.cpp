#include "gateway/h2/limits.hpp"

#include <algorithm>
#include <array>

#include "base/http/serializer.hpp"

namespace gateway::h2 {

PrefaceMatch match_preface(std::string_view first_bytes) noexcept {
  auto n = std::min(first_bytes.size(), kPreface.size());
  if (first_bytes.substr(0, n) != kPreface.substr(0, n)) return PrefaceMatch::no;
  return n == kPreface.size() ? PrefaceMatch::yes : PrefaceMatch::partial;
}

bool TokenBucket::take(Clock::time_point now) noexcept {
  if (started_ && now > last_) {
    std::chrono::duration<double> elapsed = now - last_;
    tokens_ = std::min(burst_, tokens_ + elapsed.count() * rate_);
  }
  started_ = true;
  last_ = now;
  if (tokens_ < 1) return false;
  tokens_ -= 1;
  return true;
}

bool HeaderBlockBudget::on_frame(bool first, std::size_t length) noexcept {
  if (first) {
    continuations_ = 0;
    bytes_ = 0;
  } else {
    ++continuations_;
  }
  bytes_ += length;
  return continuations_ <= max_continuations_ && bytes_ <= max_bytes_;
}

bool connection_specific(std::string_view name) noexcept {
  constexpr std::array<std::string_view, 5> kNames = {"connection", "keep-alive", "proxy-connection",
                                                      "transfer-encoding", "upgrade"};
  return std::any_of(kNames.begin(), kNames.end(), [&](std::string_view n) { return http::iequals(n, name); });
}

namespace {
void add_fields(const http::HeaderMap& headers, Fields& out) {
  headers.for_each([&](const http::HeaderMap::Field& f) {
    if (!connection_specific(f.name)) out.emplace_back(http::lowercase(f.name), std::string(f.value));
  });
}
}  // namespace

Fields response_fields(const http::Response& resp) {
  Fields out;
  out.reserve(resp.headers.size() + 1);
  out.emplace_back(":status", std::to_string(resp.status));
  add_fields(resp.headers, out);
  return out;
}

bool head_to_fields(std::string_view head, std::string_view extra, Fields& out, int& status) {
  http::Response resp;
  std::string whole;
  whole.reserve(head.size() + extra.size());
  whole.append(head).append(extra);
  if (!http::parse_response_head(whole, resp)) return false;
  status = resp.status;
  out = response_fields(resp);
  return true;
}

Fields lines_to_fields(std::string_view lines) {
  http::HeaderMap headers;
  http::parse_field_lines(lines, headers);  // up to a line that is no field
  Fields out;
  add_fields(headers, out);
  return out;
}

bool add_request_field(http::Request& req, std::string_view name, std::string_view value, std::string& authority,
                       std::string& cookies) {
  if (!name.empty() && name.front() == ':') {
    if (name == ":method") {
      req.method = value;
    } else if (name == ":path") {
      req.target = value;
    } else if (name == ":authority") {
      authority = value;
    } else if (name != ":scheme") {
      return false;  // :protocol (extended CONNECT) is not offered; others do not exist
    }
    return true;
  }
  if (connection_specific(name)) return false;
  if (name == "cookie") {
    if (!cookies.empty()) cookies.append("; ");
    cookies.append(value);
    return true;
  }
  if (name == "content-length") {
    std::uint64_t n = 0;
    if (value.empty() || value.size() > 19) return false;
    for (char c : value) {
      if (c < '0' || c > '9') return false;
      n = n * 10 + static_cast<std::uint64_t>(c - '0');
    }
    req.content_length = n;
  }
  if (name == "expect" && http::iequals(value, "100-continue")) req.expect_continue = true;
  req.headers.add(name, value);
  return true;
}

std::string_view finish_request(http::Request& req, const std::string& authority, const std::string& cookies) {
  if (req.method == "CONNECT") return "CONNECT is not supported";
  if (req.method.empty() || req.target.empty()) return "missing :method or :path";
  if (req.target.front() != '/' && !(req.target == "*" && req.method == "OPTIONS"))
    return "request target must be origin-form";
  if (!cookies.empty()) req.headers.add("cookie", cookies);
  // RFC 9113 8.3.1: :authority replaces Host when both are there.
  if (!authority.empty()) req.headers.set("host", authority);
  auto host = req.headers.get("host");
  if (!host) return "request without :authority or Host";
  if (req.headers.count("host") > 1 || !http::valid_host(*host)) return "invalid :authority or Host";
  return {};
}

}  // namespace gateway::h2
