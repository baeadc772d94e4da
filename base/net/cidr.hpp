// Address ranges in CIDR notation ("10.0.0.0/8", "2001:db8::/32", or one
// address alone, a /32 or /128), for the addresses the gateway trusts
// (trusted_proxies). Pure values; no thread affinity.
#pragma once

#include <boost/asio/ip/address.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace gateway::net {

class Cidr {
 public:
  // Parses "ADDRESS/BITS" or "ADDRESS"; on failure returns nullopt and says
  // why in `error`. Bits set after the prefix ("10.0.0.1/8") are refused:
  // they are a typo more often than not.
  static std::optional<Cidr> parse(std::string_view text, std::string& error);

  // Whether `address` is in the range. An IPv4-mapped IPv6 address
  // (::ffff:10.0.0.1, as a dual-stack listener sees IPv4 clients) is
  // compared as the IPv4 address it maps.
  bool contains(const boost::asio::ip::address& address) const noexcept;

  const boost::asio::ip::address& network() const noexcept { return network_; }
  int bits() const noexcept { return bits_; }
  std::string to_string() const;

 private:
  Cidr(boost::asio::ip::address network, int bits) : network_(network), bits_(bits) {}
  boost::asio::ip::address network_;
  int bits_;
};

// Whether any range holds `address`.
bool contains_any(std::span<const Cidr> ranges, const boost::asio::ip::address& address) noexcept;

// An address as X-Forwarded-For or a peer string gives it ("192.0.2.1",
// "2001:db8::1"), IPv4-mapped IPv6 turned into IPv4; nullopt if it is none.
std::optional<boost::asio::ip::address> parse_address(std::string_view text) noexcept;

}  // namespace gateway::net
