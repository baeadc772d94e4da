// Parsing of the value syntaxes used in the config file: durations, sizes and
// listen/instance addresses. Pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "gateway/config.hpp"

namespace gateway {

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
