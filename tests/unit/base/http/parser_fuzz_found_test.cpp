// Tests for gateway/http/parser, the inputs fuzzing found: trailer fields, a
// CR not followed by LF, status codes out of range and Upgrade, each a file
// under fuzz/regressions. Every input is fed in one piece and again in slices
// of 1, 2, 3 and 7 bytes (as a socket may deliver it); all runs must agree
// exactly (STYLE.md: feed the parser byte by byte). The driver is in
// parser_fixture.hpp.
#include "base/http/parser.hpp"

#include <doctest/doctest.h>

#include <string>

#include "parser_fixture.hpp"

using gateway::http::ParserLimits;
using namespace gateway::http::testing;

TEST_SUITE("http parser: found by fuzzing") {
  // Each input is a file under fuzz/regressions/request_parser or
  // response_parser (see fuzz/regressions/README.md).
  TEST_CASE("trailer fields of a chunked request never join its head") {
    std::string in = "GET /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "0\r\nContent-Length: 5\r\nHost: evil.example\r\nX-Trailer: 1\r\n\r\n";
    auto o = parse_request(in);
    REQUIRE(o.messages.size() == 1);
    const auto& h = o.messages[0].headers;
    CHECK(h.count("Host") == 1);
    CHECK(h.get("Host") == "h");
    CHECK_FALSE(h.contains("Content-Length"));
    CHECK_FALSE(h.contains("X-Trailer"));
    CHECK_FALSE(o.messages[0].content_length.has_value());
  }

  TEST_CASE("trailer fields of an upstream's chunked response never join its head") {
    auto o = parse_response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;a=b\r\nWiki\r\n0\r\nExpires: 0\r\n\r\n");
    REQUIRE(o.messages.size() == 1);
    CHECK(o.bodies[0] == "Wiki");
    CHECK_FALSE(o.messages[0].headers.contains("Expires"));
  }

  TEST_CASE("trailer fields count against header_bytes") {
    ParserLimits lim;
    lim.header_bytes = 64;
    std::string in = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-Big: " +
                     std::string(100, 'b') + "\r\n\r\n";
    auto o = parse_request(in, {lim});
    CHECK(o.error_status == 431);
    CHECK(o.messages.empty());
  }

  TEST_CASE("CR followed by another byte never ends a head (llhttp strict mode)") {
    auto req = parse_request("GET /a HTTP/1.1\r\nHost: h\r\n\rXGET /b HTTP/1.1\r\nHost: h\r\n\r\n");
    CHECK(req.error_status == 400);
    CHECK(req.messages.empty());
    auto resp = parse_response("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\rXok");
    CHECK(resp.error_status == 502);
    CHECK(resp.messages.empty());
  }

  TEST_CASE("a status code outside 100..599 from an upstream is refused with 502") {
    for (const char* line : {"HTTP/1.1 0 OK", "HTTP/1.1 20 OK", "HTTP/1.1 999 Whatever", "HTTP/1.1  200 OK"}) {
      CAPTURE(line);
      auto o = parse_response(std::string(line) + "\r\nContent-Length: 2\r\n\r\nok");
      CHECK(o.error_status == 502);
      CHECK(o.messages.empty());
    }
  }

  TEST_CASE("a request with Upgrade is one message, and the next request follows it without a phantom") {
    auto o = parse_request("GET /a HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
                           "GET /b HTTP/1.1\r\nHost: h\r\n\r\n");
    REQUIRE(o.messages.size() == 2);
    CHECK(o.messages[0].target == "/a");
    CHECK(o.messages[1].method == "GET");
    CHECK(o.messages[1].target == "/b");
    CHECK(o.messages[1].headers.get("Host") == "h");
  }
}
