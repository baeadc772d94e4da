// Helpers shared by the composition end-to-end tests
// (tests/integration/compose_*_test.cpp): a fragment's body fetched straight
// from its instance, a GET kept apart read by read, a chunked response taken
// apart into head, body and trailer, and the Server-Timing entries of a page.
// Helpers only one of those files needs stay in it.
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "harness.hpp"

namespace itest::compose_test {

using Clock = std::chrono::steady_clock;

// The body of `path` fetched straight from one instance (no gateway): what a
// fragment from that instance looks like in the page.
inline std::string direct(const SampleService& svc, std::string_view path) {
  auto r = http_get(url(svc.port(), path));
  REQUIRE_MESSAGE(r.status == 200, "direct GET " << path << " from " << svc.name() << ": " << r.body);
  return r.body;
}

// A chunked response taken apart: head, de-chunked body, trailer fields.
struct Chunked {
  int status = 0;
  std::string head;
  std::string body;
  std::string trailer;  // the field lines after the last chunk, each ending in CRLF
  bool complete = false;
};

inline Chunked parse_chunked(std::string_view bytes) {
  Chunked c;
  auto head_end = bytes.find("\r\n\r\n");
  if (head_end == std::string_view::npos) return c;
  c.head = std::string(bytes.substr(0, head_end + 4));
  if (c.head.size() >= 12) c.status = std::atoi(c.head.c_str() + 9);
  std::string_view rest = bytes.substr(head_end + 4);
  while (true) {
    auto eol = rest.find("\r\n");
    if (eol == std::string_view::npos) return c;
    std::size_t size = std::strtoul(std::string(rest.substr(0, eol)).c_str(), nullptr, 16);
    rest.remove_prefix(eol + 2);
    if (size == 0) break;
    if (rest.size() < size + 2) return c;
    c.body.append(rest.substr(0, size));
    rest.remove_prefix(size + 2);
  }
  auto end = rest.find("\r\n");
  while (end != 0 && end != std::string_view::npos) {  // trailer fields up to the empty line
    c.trailer.append(rest.substr(0, end + 2));
    rest.remove_prefix(end + 2);
    end = rest.find("\r\n");
  }
  c.complete = end == 0;
  return c;
}

// GET `path` on a fresh connection with Connection: close; every read kept
// apart, in arrival order.
inline std::vector<std::string> get_reads(std::uint16_t port, std::string_view path, Ms timeout = 15s) {
  RawConnection conn(port);
  REQUIRE(conn.send("GET " + std::string(path) + " HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"));
  std::vector<std::string> reads;
  auto end = Clock::now() + timeout;
  while (Clock::now() < end) {
    auto got = conn.read_some(std::chrono::duration_cast<Ms>(end - Clock::now()));
    if (got.empty()) break;  // closed (or timed out)
    reads.push_back(std::move(got));
  }
  return reads;
}

inline std::string joined(const std::vector<std::string>& reads) {
  std::string all;
  for (const auto& r : reads) all += r;
  return all;
}

// Server-Timing entries: name;dur=D;desc="URL STATUS", comma separated
// (commas inside quotes belong to the entry).
struct Timing {
  std::string name;
  double dur = -1;
  std::string desc;
};

inline std::vector<Timing> parse_server_timing(std::string_view value) {
  std::vector<std::string> parts(1);
  bool quoted = false;
  for (char ch : value) {
    if (ch == '"') quoted = !quoted;
    if (ch == ',' && !quoted) {
      parts.emplace_back();
      continue;
    }
    parts.back() += ch;
  }
  std::vector<Timing> out;
  for (auto& p : parts) {
    while (!p.empty() && p.front() == ' ') p.erase(0, 1);
    Timing t;
    t.name = p.substr(0, p.find(';'));
    auto d = p.find(";dur=");
    if (d != std::string::npos) t.dur = std::strtod(p.c_str() + d + 5, nullptr);
    auto q = p.find(";desc=\"");
    if (q != std::string::npos) t.desc = p.substr(q + 7, p.rfind('"') - (q + 7));
    out.push_back(std::move(t));
  }
  return out;
}

// The Server-Timing value of a trailer block (or a head).
inline std::string server_timing_of(std::string_view fields) {
  auto v = head_header("X: y\r\n" + std::string(fields) + "\r\n", "Server-Timing");
  return v.value_or("");
}

inline double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

}  // namespace itest::compose_test
