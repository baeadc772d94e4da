// Tests for gateway/http/parser, what it refuses: inputs over the limits
// (uri_bytes, header_bytes, the headers count, body_bytes) and ambiguous or
// malformed requests, each with its status. Every input is fed in one piece
// and again in slices of 1, 2, 3 and 7 bytes (as a socket may deliver it);
// all runs must agree exactly (STYLE.md: feed the parser byte by byte). The
// driver is in parser_fixture.hpp.
#include "base/http/parser.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "parser_fixture.hpp"

using gateway::http::Event;
using gateway::http::Parser;
using gateway::http::ParserLimits;
using gateway::http::Request;
using namespace gateway::http::testing;

TEST_SUITE("http parser: limits") {
  TEST_CASE("a request target longer than uri_bytes is refused with 414, one at the limit is not") {
    ParserLimits lim;
    lim.uri_bytes = 16;
    std::string at_limit = "/" + std::string(15, 'a');
    auto ok = parse_request("GET " + at_limit + " HTTP/1.1\r\nHost: h\r\n\r\n", {lim});
    REQUIRE(ok.messages.size() == 1);
    CHECK(ok.messages[0].target == at_limit);

    auto o = parse_request("GET " + at_limit + "b HTTP/1.1\r\nHost: h\r\n\r\n", {lim});
    CHECK(o.error_status == 414);
    CHECK_FALSE(o.error_reason.empty());
    CHECK(o.heads == 0);
  }

  TEST_CASE("field names and values over header_bytes are refused with 431, exactly at the limit they pass") {
    ParserLimits lim;
    lim.header_bytes = 20;
    // "Host" + "h" = 5 bytes, "X-A" + 12 = 15 bytes: 20 in all.
    auto ok = parse_request("GET / HTTP/1.1\r\nHost: h\r\nX-A: 0123456789ab\r\n\r\n", {lim});
    REQUIRE(ok.messages.size() == 1);
    CHECK(ok.messages[0].headers.get("X-A") == "0123456789ab");

    auto o = parse_request("GET / HTTP/1.1\r\nHost: h\r\nX-A: 0123456789abc\r\n\r\n", {lim});
    CHECK(o.error_status == 431);
    CHECK_FALSE(o.error_reason.empty());
    CHECK(o.heads == 0);

    auto long_name = parse_request("GET / HTTP/1.1\r\nHost: h\r\nX-0123456789abcdef: 1\r\n\r\n", {lim});
    CHECK(long_name.error_status == 431);
  }

  TEST_CASE("more fields than the headers limit are refused with 431, exactly the limit passes") {
    ParserLimits lim;
    lim.headers = 3;
    auto ok = parse_request("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n", {lim});
    REQUIRE(ok.messages.size() == 1);
    CHECK(ok.messages[0].headers.size() == 3u);

    auto o = parse_request("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", {lim});
    CHECK(o.error_status == 431);
    CHECK_FALSE(o.error_reason.empty());
    CHECK(o.heads == 0);
  }

  TEST_CASE("a Content-Length over body_bytes is refused with 413 before the headers event") {
    ParserLimits lim;
    lim.body_bytes = 10;
    auto ok = parse_request("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789", {lim});
    REQUIRE(ok.messages.size() == 1);
    CHECK(ok.bodies[0] == "0123456789");

    auto o = parse_request("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n0123456789a", {lim});
    CHECK(o.error_status == 413);
    CHECK_FALSE(o.error_reason.empty());
    CHECK(o.heads == 0);
  }

  TEST_CASE("a chunked body growing over body_bytes is refused with 413") {
    ParserLimits lim;
    lim.body_bytes = 10;
    std::string head = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
    auto ok = parse_request(head + "6\r\nabcdef\r\n4\r\nghij\r\n0\r\n\r\n", {lim});
    REQUIRE(ok.messages.size() == 1);
    CHECK(ok.bodies[0] == "abcdefghij");

    auto o = parse_request(head + "6\r\nabcdef\r\n5\r\nghijk\r\n0\r\n\r\n", {lim});
    CHECK(o.error_status == 413);
    CHECK_FALSE(o.error_reason.empty());
    CHECK(o.error_after_headers);  // the size is only known as the chunks arrive
    CHECK(o.messages.empty());
  }

  TEST_CASE("a chunk whose declared size alone passes body_bytes is refused with 413 before its bytes") {
    ParserLimits lim;
    lim.body_bytes = 10;
    std::string head = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
    // Only the size line: no body byte has arrived, the refusal is at once.
    auto o = parse_request(head + "b\r\n", {lim});
    CHECK(o.error_status == 413);
    CHECK(o.error_after_headers);
    // The largest size that fits 64 bits, with the default limit.
    auto big = parse_request(head + "FFFFFFFFFFFFFFFF\r\n", {});
    CHECK(big.error_status == 413);
    // Earlier chunks count: 6 + a declared 5 passes 10.
    auto later = parse_request(head + "6\r\nabcdef\r\n5\r\n", {lim});
    CHECK(later.error_status == 413);
    // Exactly at the limit is fine.
    auto ok = parse_request(head + "a\r\n0123456789\r\n0\r\n\r\n", {lim});
    REQUIRE(ok.messages.size() == 1);
    CHECK(ok.bodies[0] == "0123456789");
  }

  TEST_CASE("a chunk size that does not fit 64 bits is refused with 400") {
    ParserLimits lim;
    lim.body_bytes = 0;  // no limit: only the overflow is at fault
    auto o = parse_request("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1FFFFFFFFFFFFFFFF\r\n", {lim});
    CHECK(o.error_status == 400);
    CHECK(o.messages.empty());
  }

  TEST_CASE("body_bytes 0 means no limit") {
    ParserLimits lim;
    lim.body_bytes = 0;
    std::string body(5000, 'z');
    auto o = parse_request("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5000\r\n\r\n" + body, {lim});
    REQUIRE(o.messages.size() == 1);
    CHECK(o.bodies[0] == body);
  }
}

TEST_SUITE("http parser: refusals") {
  TEST_CASE("ambiguous or malformed requests are refused with 400 and never reach the headers event") {
    struct Case {
      const char* name;
      const char* input;
    };
    const Case cases[] = {
        {"Content-Length and Transfer-Encoding",
         "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"},
        {"Transfer-Encoding then Content-Length",
         "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n"},
        {"duplicate Content-Length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello"},
        {"Content-Length list", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\nhello"},
        {"negative Content-Length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n"},
        {"Content-Length with a space inside", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1 2\r\n\r\n"},
        {"Content-Length not a number", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: abc\r\n\r\n"},
        {"Content-Length with a plus sign", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\nhello"},
        {"Transfer-Encoding: chunked twice", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
        {"chunked not the final coding", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n"},
        {"bare LF line endings", "GET / HTTP/1.1\nHost: h\n\n"},
        {"bare LF ending a field line", "GET / HTTP/1.1\r\nHost: h\nX-A: 1\r\n\r\n"},
        {"bare CR inside a field value", "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\rb\r\n\r\n"},
        {"whitespace before the colon", "GET / HTTP/1.1\r\nHost : h\r\n\r\n"},
        {"whitespace before the colon of another field", "GET / HTTP/1.1\r\nHost: h\r\nX-A : 1\r\n\r\n"},
        {"missing Host in HTTP/1.1", "GET / HTTP/1.1\r\nX-A: 1\r\n\r\n"},
        {"two Host fields", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"},
        {"two Host fields of the same value", "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n"},
        {"target neither origin-form nor absolute-form", "GET index.html HTTP/1.1\r\nHost: h\r\n\r\n"},
    };
    for (const auto& c : cases) {
      INFO(std::string(c.name));
      auto o = parse_request(c.input);
      CHECK(o.error_status == 400);
      CHECK_FALSE(o.error_reason.empty());
      CHECK(o.heads == 0);
      CHECK(o.messages.empty());
    }
  }

  TEST_CASE("a Host that is not uri-host[:port] is refused with 400 before the headers event") {
    for (const char* host : {"evil.example/x y", "a b", "a/b", "user@host", "host:", ":80", "host:8x", "[::1",
                             "[::1]x", "[]", "host:80:80", "a\"b", "a%2", "a%zz"}) {
      CAPTURE(host);
      auto o = parse_request("GET / HTTP/1.1\r\nHost: " + std::string(host) + "\r\n\r\n");
      CHECK(o.error_status == 400);
      CHECK(o.heads == 0);
    }
    // The authority of an absolute-form target is checked the same way.
    auto o = parse_request("GET http://a^b/x HTTP/1.1\r\nHost: h\r\n\r\n");
    CHECK(o.error_status == 400);
  }

  TEST_CASE("valid Host values pass: names, IPv4, IPv6 literals, ports, pct-encoding, empty") {
    for (const char* host : {"example.com", "EXAMPLE.com:8080", "127.0.0.1", "127.0.0.1:80", "[::1]", "[::1]:8080",
                             "[2001:db8::7]", "xn--bcher-kva.example", "a%20b", "a_b~c", ""}) {
      CAPTURE(host);
      auto o = parse_request("GET / HTTP/1.1\r\nHost: " + std::string(host) + "\r\n\r\n");
      CHECK(o.error_status == 0);
      CHECK(o.messages.size() == 1);
    }
  }

  TEST_CASE("an obs-fold continuation line is refused with 400") {
    auto o = parse_request("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n\tb\r\n\r\n");
    CHECK(o.error_status == 400);
    CHECK(o.heads == 0);
    CHECK(o.messages.empty());
  }

  TEST_CASE("an empty field name is refused with 400") {
    auto o = parse_request("GET / HTTP/1.1\r\n:x\r\nHost: h\r\n\r\n");
    CHECK(o.error_status == 400);
    CHECK(o.heads == 0);
    CHECK(o.messages.empty());
  }

  TEST_CASE("an HTTP/1.0 request with Transfer-Encoding does not keep the connection") {
    auto o = parse_request(
        "POST / HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
    bool refused = o.error_status == 400;
    bool closes = o.messages.size() == 1 && !o.messages[0].keep_alive;
    CHECK((refused || closes));
  }

  TEST_CASE("an absolute-form target with an upper-case scheme is accepted") {
    auto o = parse_request("GET HTTP://example.com/x HTTP/1.1\r\nHost: h\r\n\r\n");
    CHECK(o.error_status == 0);
    REQUIRE(o.messages.size() == 1);
    CHECK(o.messages[0].target == "/x");
    CHECK(o.messages[0].headers.get("Host") == "example.com");
  }

  TEST_CASE("a bad chunk size is refused with 400 once the body starts") {
    auto o = parse_request("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n");
    CHECK(o.error_status == 400);
    CHECK_FALSE(o.error_reason.empty());
    CHECK(o.error_after_headers);
    CHECK(o.messages.empty());
  }

  TEST_CASE("a chunk not followed by CRLF is refused with 400") {
    auto o = parse_request("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n");
    CHECK(o.error_status == 400);
    CHECK(o.messages.empty());
  }

  TEST_CASE("a chunked coding combined with another one is refused with 501") {
    auto o = parse_request("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n");
    CHECK(o.error_status == 501);
    CHECK(o.error_reason == "unsupported transfer coding");
    CHECK(o.heads == 0);
    CHECK(o.messages.empty());
  }

  TEST_CASE("an unknown Transfer-Encoding alone is refused with 501 before the headers event") {
    auto o = parse_request("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\nabc");
    CHECK(o.error_status == 501);
    CHECK(o.error_reason == "unsupported transfer coding");
    CHECK(o.heads == 0);
    CHECK(o.messages.empty());
  }

  TEST_CASE("an HTTP/2.0 request line is refused with 505") {
    auto o = parse_request("GET / HTTP/2.0\r\nHost: h\r\n\r\n");
    CHECK(o.error_status == 505);
    CHECK_FALSE(o.error_reason.empty());
    CHECK(o.heads == 0);
    CHECK(o.messages.empty());
  }

  TEST_CASE("CONNECT is refused with 405") {
    auto o = parse_request("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
    CHECK(o.error_status == 405);
    CHECK_FALSE(o.error_reason.empty());
    CHECK(o.heads == 0);
    CHECK(o.messages.empty());
  }

  TEST_CASE("a request cut short by the end of the stream is an error, a clean boundary is not") {
    Parser p(Parser::Kind::request, {});
    Request req;
    p.start(req);
    CHECK(p.finish().event == Event::need_more);  // nothing begun: a clean close

    std::string part = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc";
    auto r = p.feed(part.data(), part.size());
    REQUIRE(r.event == Event::headers);
    r = p.feed(part.data() + r.consumed, part.size() - r.consumed);
    CHECK(r.event == Event::need_more);
    CHECK(p.finish().event == Event::error);
    CHECK(p.error_status() == 400);
    CHECK_FALSE(p.error_reason().empty());
  }
}
