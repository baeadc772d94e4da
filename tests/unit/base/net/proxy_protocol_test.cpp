// Tests for base/net/proxy_protocol: version 1 and 2 headers, whole and cut
// anywhere (need_more until the last byte), malformed and oversized ones,
// and the bytes after a header left alone (its size).
#include "base/net/proxy_protocol.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace gateway::net::proxy_protocol;

namespace {

std::string v2(unsigned char ver_cmd, unsigned char fam, std::string body) {
  std::string h("\r\n\r\n\0\r\nQUIT\n", 12);
  h.push_back(static_cast<char>(ver_cmd));
  h.push_back(static_cast<char>(fam));
  h.push_back(static_cast<char>(body.size() >> 8));
  h.push_back(static_cast<char>(body.size() & 0xff));
  return h + body;
}

std::string bytes(std::initializer_list<int> values) {
  std::string s;
  for (int v : values) s.push_back(static_cast<char>(v));
  return s;
}

// TCP over IPv4: 192.0.2.10:51000 -> 198.51.100.1:443.
const std::string kV2Tcp4 = v2(0x21, 0x11, bytes({192, 0, 2, 10, 198, 51, 100, 1, 0xc7, 0x38, 0x01, 0xbb}));

struct Case {
  const char* name;
  std::string input;
  Status status;
  int version;
  std::size_t size;        // done
  const char* source;      // done: "" for none
  unsigned port;
  const char* reason;      // error: a fragment
};

void check(const Case& c) {
  CAPTURE(std::string(c.name));
  auto r = parse(c.input);
  CHECK(r.status == c.status);
  CHECK(r.version == c.version);
  if (c.status == Status::done) {
    CHECK(r.size == c.size);
    CHECK((r.source ? r.source->to_string() : std::string()) == c.source);
    CHECK(r.source_port == c.port);
  }
  if (c.status == Status::error) CHECK(r.reason.find(c.reason) != std::string::npos);
}

}  // namespace

TEST_SUITE("proxy protocol") {
  TEST_CASE("version 1: TCP4, TCP6, UNKNOWN, and the request after the line is not part of it") {
    const Case cases[] = {
        {"TCP4", "PROXY TCP4 192.0.2.1 198.51.100.1 56324 443\r\nGET / HTTP/1.1\r\n", Status::done, 1, 45,
         "192.0.2.1", 56324, ""},
        {"TCP6", "PROXY TCP6 2001:db8::1 2001:db8::2 65535 0\r\n", Status::done, 1, 44, "2001:db8::1", 65535, ""},
        {"UNKNOWN alone", "PROXY UNKNOWN\r\n", Status::done, 1, 15, "", 0, ""},
        {"UNKNOWN with addresses", "PROXY UNKNOWN ffff:f...f:ffff 1.2.3.4 1 2\r\nX", Status::done, 1, 43, "", 0, ""},
        {"the longest line", "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n",
         Status::done, 1, 104, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535, ""},
    };
    for (const auto& c : cases) check(c);
  }

  TEST_CASE("version 1: malformed lines are refused with a reason") {
    const Case cases[] = {
        {"not PROXY at all", "GET / HTTP/1.1\r\n", Status::error, 0, 0, "", 0, "no PROXY protocol header"},
        {"lowercase", "proxy TCP4 1.1.1.1 2.2.2.2 1 2\r\n", Status::error, 0, 0, "", 0, "no PROXY"},
        {"unknown protocol", "PROXY UDP4 1.1.1.1 2.2.2.2 1 2\r\n", Status::error, 1, 0, "", 0, "unknown protocol"},
        {"a field missing", "PROXY TCP4 1.1.1.1 2.2.2.2 1\r\n", Status::error, 1, 0, "", 0, "expected 4 fields"},
        {"two spaces", "PROXY TCP4 1.1.1.1  2.2.2.2 1 2\r\n", Status::error, 1, 0, "", 0, "expected 4 fields"},
        {"IPv6 in TCP4", "PROXY TCP4 ::1 ::1 1 2\r\n", Status::error, 1, 0, "", 0, "invalid IPv4 address"},
        {"IPv4 in TCP6", "PROXY TCP6 1.1.1.1 ::1 1 2\r\n", Status::error, 1, 0, "", 0, "invalid IPv6 address"},
        {"a bad address", "PROXY TCP4 1.1.1.256 2.2.2.2 1 2\r\n", Status::error, 1, 0, "", 0, "invalid IPv4"},
        {"a port too large", "PROXY TCP4 1.1.1.1 2.2.2.2 65536 2\r\n", Status::error, 1, 0, "", 0, "invalid port"},
        {"a port with a leading zero", "PROXY TCP4 1.1.1.1 2.2.2.2 080 2\r\n", Status::error, 1, 0, "", 0, "invalid port"},
        {"a signed port", "PROXY TCP4 1.1.1.1 2.2.2.2 -1 2\r\n", Status::error, 1, 0, "", 0, "invalid port"},
        {"LF alone", "PROXY TCP4 1.1.1.1 2.2.2.2 1 2\n", Status::error, 1, 0, "", 0, "LF without CR"},
        {"CR alone", "PROXY TCP4 1.1.1.1 2.2.2.2 1 2\rX", Status::error, 1, 0, "", 0, "CR without LF"},
        // Found by fuzz/proxy_protocol_fuzz.cpp: whole, this line was taken,
        // while a prefix of it was refused.
        {"CR alone, then CRLF", "PROXY UNKNOWN U\r:\r\n", Status::error, 1, 0, "", 0, "CR without LF"},
        {"longer than 107 bytes, no end", "PROXY UNKNOWN " + std::string(100, 'a'), Status::error, 1, 0, "", 0,
         "longer than 107"},
        {"longer than 107 bytes, with its end", "PROXY UNKNOWN " + std::string(100, 'a') + "\r\n", Status::error, 1,
         0, "", 0, "longer than 107"},
    };
    for (const auto& c : cases) check(c);
  }

  TEST_CASE("version 2: TCP over IPv4 and IPv6, LOCAL, UNSPEC and UNIX, TLVs skipped") {
    std::string v6_body = bytes({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x07});
    v6_body += std::string(16, '\0');
    v6_body += bytes({0x00, 0x50, 0x01, 0xbb});
    std::string tlv = bytes({0x04, 0x00, 0x03, 'a', 'b', 'c'});  // PP2_TYPE_NOOP, 3 bytes
    const Case cases[] = {
        {"TCP4", kV2Tcp4 + "GET /", Status::done, 2, 28, "192.0.2.10", 51000, ""},
        {"TCP6", v2(0x21, 0x21, v6_body), Status::done, 2, 52, "2001:db8::7", 80, ""},
        {"TCP4 with a TLV", v2(0x21, 0x11, kV2Tcp4.substr(16) + tlv), Status::done, 2, 34, "192.0.2.10", 51000, ""},
        {"UDP4", v2(0x21, 0x12, kV2Tcp4.substr(16)), Status::done, 2, 28, "192.0.2.10", 51000, ""},
        {"LOCAL: the balancer's own check", v2(0x20, 0x00, ""), Status::done, 2, 16, "", 0, ""},
        {"LOCAL with addresses: ignored", v2(0x20, 0x11, kV2Tcp4.substr(16)), Status::done, 2, 28, "", 0, ""},
        {"PROXY over UNSPEC", v2(0x21, 0x00, tlv), Status::done, 2, 22, "", 0, ""},
        {"PROXY over UNIX", v2(0x21, 0x31, std::string(216, 'x')), Status::done, 2, 232, "", 0, ""},
    };
    for (const auto& c : cases) check(c);
  }

  TEST_CASE("version 2: malformed and oversized headers are refused with a reason") {
    const Case cases[] = {
        {"version 1 in the binary form", v2(0x11, 0x11, kV2Tcp4.substr(16)), Status::error, 2, 0, "", 0,
         "unsupported version 1"},
        {"an unknown command", v2(0x22, 0x11, kV2Tcp4.substr(16)), Status::error, 2, 0, "", 0, "unknown command 2"},
        {"an unknown family", v2(0x21, 0x41, kV2Tcp4.substr(16)), Status::error, 2, 0, "", 0, "unknown address family"},
        {"an unknown transport", v2(0x21, 0x13, kV2Tcp4.substr(16)), Status::error, 2, 0, "", 0, "unknown address family"},
        {"addresses shorter than IPv4's", v2(0x21, 0x11, std::string(8, '\0')), Status::error, 2, 0, "", 0,
         "address block of 8 bytes, 12 needed"},
        {"addresses shorter than IPv6's", v2(0x21, 0x21, std::string(12, '\0')), Status::error, 2, 0, "", 0,
         "address block of 12 bytes, 36 needed"},
        {"more than 4096 bytes announced", v2(0x21, 0x11, std::string(4097, '\0')).substr(0, 16), Status::error, 2,
         0, "", 0, "4097 bytes of addresses and TLVs"},
        {"a broken signature", std::string("\r\n\r\n\0\r\nQUIX\n", 12), Status::error, 0, 0, "", 0, "no PROXY"},
    };
    for (const auto& c : cases) check(c);
  }

  TEST_CASE("a header cut anywhere needs more bytes, until its last one") {
    for (const std::string& whole : {std::string("PROXY TCP4 192.0.2.1 198.51.100.1 56324 443\r\n"), kV2Tcp4,
                                      std::string("PROXY UNKNOWN\r\n")}) {
      CAPTURE(whole.size());
      for (std::size_t n = 0; n < whole.size(); ++n) {
        CAPTURE(n);
        CHECK(parse(whole.substr(0, n)).status == Status::need_more);
      }
      CHECK(parse(whole).status == Status::done);
      CHECK(parse(whole).size == whole.size());
    }
  }
}
