// Owns the value syntaxes of the config file: durations ("1m30s"), sizes
// ("16KiB", "10m") and endpoints ("[::1]:8080"). Pure functions, called by the
// config loader on whichever thread loads the configuration.
#include "base/units.hpp"

#include <array>
#include <charconv>
#include <limits>

namespace gateway {
namespace {

constexpr bool is_digit(char c) { return c >= '0' && c <= '9'; }
constexpr bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// Reads a run of decimal digits from the front of `text`. nullopt if there is
// none or the value does not fit in 64 bits. A sign is never accepted.
std::optional<std::uint64_t> take_number(std::string_view& text) {
  std::size_t n = 0;
  while (n < text.size() && is_digit(text[n])) ++n;
  if (n == 0) return std::nullopt;
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + n, value);
  if (ec != std::errc{} || end != text.data() + n) return std::nullopt;
  text.remove_prefix(n);
  return value;
}

std::string_view take_letters(std::string_view& text) {
  std::size_t n = 0;
  while (n < text.size() && is_alpha(text[n])) ++n;
  auto letters = text.substr(0, n);
  text.remove_prefix(n);
  return letters;
}

struct Unit {
  std::string_view suffix;
  std::uint64_t factor;
};

// Largest first: combinations must follow this order, each unit at most once.
constexpr std::array<Unit, 5> kDurationUnits{{
    {"d", 86'400'000},
    {"h", 3'600'000},
    {"m", 60'000},
    {"s", 1'000},
    {"ms", 1},
}};

constexpr std::array<Unit, 16> kSizeUnits{{
    {"", 1},
    {"B", 1},
    {"k", 1ull << 10},
    {"K", 1ull << 10},
    {"m", 1ull << 20},
    {"M", 1ull << 20},
    {"g", 1ull << 30},
    {"G", 1ull << 30},
    {"KiB", 1ull << 10},
    {"MiB", 1ull << 20},
    {"GiB", 1ull << 30},
    {"TiB", 1ull << 40},
    {"KB", 1'000},
    {"MB", 1'000'000},
    {"GB", 1'000'000'000},
    {"TB", 1'000'000'000'000},
}};

std::optional<std::uint64_t> checked_mul_add(std::uint64_t value, std::uint64_t factor,
                                             std::uint64_t total) {
  std::uint64_t product = 0;
  if (__builtin_mul_overflow(value, factor, &product)) return std::nullopt;
  if (__builtin_add_overflow(total, product, &total)) return std::nullopt;
  return total;
}

bool valid_port(std::string_view text, bool allow_zero, std::uint16_t& port) {
  if (text.empty() || text.size() > 5) return false;
  for (char c : text) {
    if (!is_digit(c)) return false;
  }
  unsigned value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value);
  if (value > 65535 || (value == 0 && !allow_zero)) return false;
  port = static_cast<std::uint16_t>(value);
  return true;
}

// Host names and IPv4 literals: letters, digits, '-', '.', '_'.
bool valid_host_name(std::string_view host) {
  if (host.empty()) return false;
  for (char c : host) {
    if (!is_digit(c) && !is_alpha(c) && c != '-' && c != '.' && c != '_') return false;
  }
  return true;
}

// What may sit between brackets: IPv6 literals, possibly with a zone ("%eth0").
bool valid_ipv6_literal(std::string_view host) {
  if (host.find(':') == std::string_view::npos) return false;
  for (char c : host) {
    if (!is_digit(c) && !is_alpha(c) && c != ':' && c != '.' && c != '%') return false;
  }
  return true;
}

}  // namespace

std::optional<Duration> parse_duration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::string_view rest = text;
  auto first = take_number(rest);
  if (!first) return std::nullopt;
  if (rest.empty()) {  // bare integer: seconds, as in nginx
    auto ms = checked_mul_add(*first, 1'000, 0);
    if (!ms || *ms > static_cast<std::uint64_t>(std::numeric_limits<Duration::rep>::max())) {
      return std::nullopt;
    }
    return Duration{static_cast<Duration::rep>(*ms)};
  }

  std::uint64_t total = 0;
  std::size_t next_unit = 0;  // index into kDurationUnits: units only descend
  std::optional<std::uint64_t> number = first;
  while (true) {
    auto letters = take_letters(rest);
    std::size_t i = next_unit;
    while (i < kDurationUnits.size() && kDurationUnits[i].suffix != letters) ++i;
    if (i == kDurationUnits.size()) return std::nullopt;  // unknown, repeated or out of order
    auto sum = checked_mul_add(*number, kDurationUnits[i].factor, total);
    if (!sum) return std::nullopt;
    total = *sum;
    next_unit = i + 1;
    if (rest.empty()) break;
    number = take_number(rest);
    if (!number || rest.empty()) return std::nullopt;  // a number needs a unit after the first
  }
  if (total > static_cast<std::uint64_t>(std::numeric_limits<Duration::rep>::max())) {
    return std::nullopt;
  }
  return Duration{static_cast<Duration::rep>(total)};
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
  std::string_view rest = text;
  auto number = take_number(rest);
  if (!number) return std::nullopt;
  for (const Unit& unit : kSizeUnits) {
    if (unit.suffix == rest) return checked_mul_add(*number, unit.factor, 0);
  }
  return std::nullopt;
}

std::optional<Endpoint> parse_endpoint(std::string_view text, bool allow_zero_port) {
  Endpoint endpoint;
  endpoint.text = std::string(text);
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    auto host = text.substr(1, close - 1);
    if (!valid_ipv6_literal(host)) return std::nullopt;
    auto after = text.substr(close + 1);
    if (after.empty() || after.front() != ':') return std::nullopt;
    endpoint.host = std::string(host);
    port_text = after.substr(1);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    auto host = text.substr(0, colon);
    // An unbracketed IPv6 literal ("::1:80") is ambiguous: require brackets.
    if (!valid_host_name(host)) return std::nullopt;
    endpoint.host = std::string(host);
    port_text = text.substr(colon + 1);
  }
  if (!valid_port(port_text, allow_zero_port, endpoint.port)) return std::nullopt;
  return endpoint;
}

}  // namespace gateway
