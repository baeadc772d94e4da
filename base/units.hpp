// The value syntaxes of the configuration: durations, sizes and
// listen/instance addresses, and the types they become. Pure functions;
// every library's configuration types use them.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gateway {

using Duration = std::chrono::milliseconds;

// "host:port" as given, and its parts. IPv6 literals are written "[::1]:8080".
struct Endpoint {
  std::string text;
  std::string host;
  std::uint16_t port = 0;
};

// "500ms", "10s", "1m", "2h", "1d", combinations such as "1m30s"; a bare
// integer means seconds (as in nginx). nullopt if malformed or negative.
std::optional<Duration> parse_duration(std::string_view text);

// "512", "16KiB", "10MiB", "1GiB", "1TiB"; nginx-style "64k", "10m", "1g" are
// binary too; "10KB", "10MB", "1GB" are decimal. nullopt if malformed.
std::optional<std::uint64_t> parse_size(std::string_view text);

// "127.0.0.1:8080", "[::1]:8080", "localhost:80". nullopt without a valid
// port (1-65535, or 0 where allow_zero_port: the OS picks one).
std::optional<Endpoint> parse_endpoint(std::string_view text, bool allow_zero_port = false);

}  // namespace gateway
