// Tests for base/net/cidr: parsing ranges (IPv4, IPv6, one address, the
// mistakes refused) and matching addresses, IPv4-mapped IPv6 included.
#include "base/net/cidr.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using gateway::net::Cidr;
using gateway::net::parse_address;

namespace {

bool in(const char* range, const char* address) {
  std::string error;
  auto cidr = Cidr::parse(range, error);
  REQUIRE_MESSAGE(cidr, error);
  auto a = parse_address(address);
  REQUIRE(a);
  return cidr->contains(*a);
}

}  // namespace

TEST_SUITE("cidr") {
  TEST_CASE("parsing: ranges and single addresses, mistakes refused with a reason") {
    struct Case {
      const char* text;
      const char* parsed;  // to_string(), or the error's fragment
      bool ok;
    };
    const Case cases[] = {
        {"10.0.0.0/8", "10.0.0.0/8", true},
        {"127.0.0.1", "127.0.0.1/32", true},
        {"0.0.0.0/0", "0.0.0.0/0", true},
        {"2001:db8::/32", "2001:db8::/32", true},
        {"::1", "::1/128", true},
        {"::ffff:10.0.0.0/104", "", false},  // mapped: an IPv4 address, /104 is too long for it
        {"::ffff:10.0.0.0/8", "10.0.0.0/8", true},
        {"10.0.0.1/8", "has bits set after the /8 prefix", false},
        {"2001:db8::1/32", "has bits set after the /32 prefix", false},
        {"10.0.0.0/33", "invalid prefix length \"33\" (0..32)", false},
        {"10.0.0.0/", "invalid prefix length", false},
        {"10.0.0.0/08", "invalid prefix length", false},
        {"10.0.0.0/x", "invalid prefix length", false},
        {"10.0.0/8", "invalid address \"10.0.0\"", false},
        {"localhost", "invalid address", false},
        {"", "invalid address", false},
        {"fe80::1%1/128", "invalid address", false},
    };
    for (const auto& c : cases) {
      CAPTURE(std::string(c.text));
      std::string error;
      auto cidr = Cidr::parse(c.text, error);
      CHECK(cidr.has_value() == c.ok);
      if (cidr) CHECK(cidr->to_string() == c.parsed);
      else CHECK(error.find(c.parsed) != std::string::npos);
    }
  }

  TEST_CASE("matching: prefix bits only, families apart, IPv4-mapped IPv6 as IPv4") {
    CHECK(in("10.0.0.0/8", "10.255.1.2"));
    CHECK_FALSE(in("10.0.0.0/8", "11.0.0.0"));
    CHECK(in("192.168.1.128/25", "192.168.1.255"));
    CHECK_FALSE(in("192.168.1.128/25", "192.168.1.127"));
    CHECK(in("0.0.0.0/0", "203.0.113.9"));
    CHECK_FALSE(in("0.0.0.0/0", "::1"));
    CHECK(in("127.0.0.1", "127.0.0.1"));
    CHECK_FALSE(in("127.0.0.1", "127.0.0.2"));
    CHECK(in("2001:db8::/32", "2001:db8:ffff::1"));
    CHECK_FALSE(in("2001:db8::/32", "2001:db9::1"));
    CHECK(in("2001:db8::/33", "2001:db8:7fff::1"));
    CHECK_FALSE(in("2001:db8::/33", "2001:db8:8000::1"));
    CHECK(in("127.0.0.0/8", "::ffff:127.0.0.1"));  // a dual-stack listener's IPv4 client
    CHECK_FALSE(in("::/0", "10.0.0.1"));
  }

  TEST_CASE("parse_address: addresses only, mapped ones unmapped") {
    CHECK(parse_address("192.0.2.1")->to_string() == "192.0.2.1");
    CHECK(parse_address("::ffff:192.0.2.1")->to_string() == "192.0.2.1");
    CHECK(parse_address("2001:db8::1")->to_string() == "2001:db8::1");
    CHECK_FALSE(parse_address("192.0.2.1:8080"));
    CHECK_FALSE(parse_address("[2001:db8::1]"));
    CHECK_FALSE(parse_address("unknown"));
    CHECK_FALSE(parse_address(""));
  }
}
