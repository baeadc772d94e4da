#include "base/net/cidr.hpp"

#include <charconv>

namespace gateway::net {

namespace ip = boost::asio::ip;

namespace {

ip::address unmapped(const ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) return ip::make_address_v4(ip::v4_mapped, a.to_v6());
  return a;
}

// The first `bits` bits of two byte arrays are equal.
template <class Bytes>
bool same_prefix(const Bytes& a, const Bytes& b, int bits) {
  for (std::size_t i = 0; bits > 0; ++i, bits -= 8) {
    unsigned mask = bits >= 8 ? 0xffu : (0xffu << (8 - bits)) & 0xffu;
    if ((a[i] & mask) != (b[i] & mask)) return false;
  }
  return true;
}

template <class Bytes>
bool host_bits_clear(const Bytes& a, int bits) {
  for (std::size_t i = 0; i < a.size(); ++i) {
    int keep = std::max(0, std::min(8, bits - static_cast<int>(i) * 8));
    unsigned mask = keep == 0 ? 0u : (0xffu << (8 - keep)) & 0xffu;
    if ((a[i] & ~mask & 0xffu) != 0) return false;
  }
  return true;
}

}  // namespace

std::optional<ip::address> parse_address(std::string_view text) noexcept {
  boost::system::error_code ec;
  auto a = ip::make_address(std::string(text), ec);
  if (ec) return std::nullopt;
  // A zone ("fe80::1%eth0") is no client address anyone forwards.
  if (a.is_v6() && a.to_v6().scope_id() != 0) return std::nullopt;
  return unmapped(a);
}

std::optional<Cidr> Cidr::parse(std::string_view text, std::string& error) {
  auto slash = text.find('/');
  auto address = parse_address(text.substr(0, slash));
  if (!address) {
    error = "invalid address \"" + std::string(text.substr(0, slash)) + "\"";
    return std::nullopt;
  }
  const int max = address->is_v4() ? 32 : 128;
  int bits = max;
  if (slash != std::string_view::npos) {
    auto digits = text.substr(slash + 1);
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), bits);
    if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size() || bits < 0 || bits > max ||
        (digits.size() > 1 && digits.front() == '0')) {
      error = "invalid prefix length \"" + std::string(digits) + "\" (0.." + std::to_string(max) + ")";
      return std::nullopt;
    }
  }
  bool clear = address->is_v4() ? host_bits_clear(address->to_v4().to_bytes(), bits)
                                : host_bits_clear(address->to_v6().to_bytes(), bits);
  if (!clear) {
    error = "\"" + std::string(text) + "\" has bits set after the /" + std::to_string(bits) + " prefix";
    return std::nullopt;
  }
  return Cidr(*address, bits);
}

bool Cidr::contains(const ip::address& address) const noexcept {
  auto a = unmapped(address);
  if (a.is_v4() != network_.is_v4()) return false;
  if (a.is_v4()) return same_prefix(a.to_v4().to_bytes(), network_.to_v4().to_bytes(), bits_);
  return same_prefix(a.to_v6().to_bytes(), network_.to_v6().to_bytes(), bits_);
}

std::string Cidr::to_string() const { return network_.to_string() + "/" + std::to_string(bits_); }

bool contains_any(std::span<const Cidr> ranges, const ip::address& address) noexcept {
  for (const auto& r : ranges)
    if (r.contains(address)) return true;
  return false;
}

}  // namespace gateway::net
