// Tests for gateway/units: the duration, size and endpoint syntaxes of the
// config file. Table-driven: one row per accepted or rejected spelling.
#include "base/units.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using gateway::Duration;

namespace {

struct DurationCase {
  std::string text;
  long long ms;
};

struct SizeCase {
  std::string text;
  std::uint64_t bytes;
};

struct EndpointCase {
  std::string text;
  std::string host;
  std::uint16_t port;
};

}  // namespace

TEST_CASE("parse_duration accepts every unit and descending combinations") {
  const std::vector<DurationCase> cases = {
      {"0", 0},
      {"10", 10'000},  // bare integer: seconds
      {"0ms", 0},
      {"500ms", 500},
      {"10s", 10'000},
      {"1m", 60'000},
      {"2h", 7'200'000},
      {"1d", 86'400'000},
      {"1m30s", 90'000},
      {"1s500ms", 1'500},
      {"1d2h3m4s5ms", 86'400'000 + 7'200'000 + 180'000 + 4'000 + 5},
      {"1h30m", 5'400'000},
      {"90s", 90'000},
      {"007s", 7'000},
  };
  for (const auto& c : cases) {
    CAPTURE(c.text);
    auto d = gateway::parse_duration(c.text);
    REQUIRE(d.has_value());
    CHECK(d->count() == c.ms);
  }
}

TEST_CASE("parse_duration rejects malformed, negative and overflowing values") {
  const std::vector<std::string> cases = {
      "",       "s",      "ms",         "-1",          "-1s",      "+1s",  "1.5s",
      "10x",    "10 s",   " 10s",       "10s ",        "1S",       "1us",  "250us",
      "1ns",    "1w",     "1s1m",       "1m1m",        "1ms1s",    "1m30", "1h30",
      "abc",    "10sec",  "1m 30s",     "0x10",        "1e3ms",
      "99999999999999999999",           // does not fit in 64 bits
      "9223372036854775807s",           // fits, but not once in milliseconds
      "106751991168d",                  // just past the millisecond range
  };
  for (const auto& text : cases) {
    CAPTURE(text);
    CHECK_FALSE(gateway::parse_duration(text).has_value());
  }
}

TEST_CASE("parse_size accepts bytes, binary, nginx-style and decimal units") {
  const std::vector<SizeCase> cases = {
      {"0", 0},
      {"512", 512},
      {"512B", 512},
      {"16KiB", 16 * 1024},
      {"10MiB", 10ull * 1024 * 1024},
      {"1GiB", 1ull << 30},
      {"1TiB", 1ull << 40},
      {"64k", 64 * 1024},
      {"64K", 64 * 1024},
      {"10m", 10ull << 20},
      {"10M", 10ull << 20},
      {"1g", 1ull << 30},
      {"2G", 2ull << 30},
      {"10KB", 10'000},
      {"10MB", 10'000'000},
      {"1GB", 1'000'000'000},
      {"2TB", 2'000'000'000'000},
      {"18446744073709551615", 18446744073709551615ull},
  };
  for (const auto& c : cases) {
    CAPTURE(c.text);
    auto size = gateway::parse_size(c.text);
    REQUIRE(size.has_value());
    CHECK(*size == c.bytes);
  }
}

TEST_CASE("parse_size rejects malformed, negative and overflowing values") {
  const std::vector<std::string> cases = {
      "",     "k",     "KiB",   "-1",      "-1k",     "+1k",    "1.5MiB", "10 KiB",
      " 10",  "10x",   "10kib", "10Kb",    "10kb",    "10KIB",  "10PiB",  "1t",
      "1T",   "abc",   "0x10",  "1e3",     "10KiBs",  "1k1k",
      "18446744073709551616",   // 2^64
      "16777216TiB",            // 2^64 bytes
      "17179869184GiB",         // 2^64 bytes
  };
  for (const auto& text : cases) {
    CAPTURE(text);
    CHECK_FALSE(gateway::parse_size(text).has_value());
  }
}

TEST_CASE("parse_endpoint splits host and port") {
  const std::vector<EndpointCase> cases = {
      {"127.0.0.1:8080", "127.0.0.1", 8080},
      {"0.0.0.0:80", "0.0.0.0", 80},
      {"[::1]:8080", "::1", 8080},
      {"[::]:443", "::", 443},
      {"[fe80::1%eth0]:8080", "fe80::1%eth0", 8080},
      {"[2001:db8::1]:65535", "2001:db8::1", 65535},
      {"localhost:80", "localhost", 80},
      {"my-host.example.com:1", "my-host.example.com", 1},
      {"service_a:9001", "service_a", 9001},
  };
  for (const auto& c : cases) {
    CAPTURE(c.text);
    auto endpoint = gateway::parse_endpoint(c.text);
    REQUIRE(endpoint.has_value());
    CHECK(endpoint->text == c.text);
    CHECK(endpoint->host == c.host);
    CHECK(endpoint->port == c.port);
  }
}

TEST_CASE("parse_endpoint allows port 0 only when asked") {
  CHECK_FALSE(gateway::parse_endpoint("127.0.0.1:0").has_value());
  auto endpoint = gateway::parse_endpoint("127.0.0.1:0", true);
  REQUIRE(endpoint.has_value());
  CHECK(endpoint->port == 0);
  auto v6 = gateway::parse_endpoint("[::1]:0", true);
  REQUIRE(v6.has_value());
  CHECK(v6->host == "::1");
  CHECK(v6->port == 0);
}

TEST_CASE("parse_endpoint rejects missing or bad ports and hosts") {
  const std::vector<std::string> cases = {
      "",
      "127.0.0.1",        // missing port
      "127.0.0.1:",       // empty port
      "localhost",
      ":8080",            // missing host
      "127.0.0.1:65536",  // out of range
      "127.0.0.1:100000",
      "127.0.0.1:-1",
      "127.0.0.1:+80",
      "127.0.0.1:80x",
      "127.0.0.1:8 0",
      "::1:8080",         // IPv6 needs brackets
      "[::1]",            // missing port
      "[::1]8080",
      "[::1:8080",
      "[]:8080",
      "[localhost]:80",   // brackets are for IPv6 only
      "exa mple.com:80",
      "host/path:80",
      "http://host:80",
  };
  for (const auto& text : cases) {
    CAPTURE(text);
    CHECK_FALSE(gateway::parse_endpoint(text).has_value());
    CHECK_FALSE(gateway::parse_endpoint(text, true).has_value());
  }
}
