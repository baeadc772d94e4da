// Tests for gateway/http/parser, requests: method, target, version and
// fields, bodies by Content-Length and chunked, pipelining and event
// positions, absolute-form targets, keep-alive and Expect. Limits and
// refusals, responses, and the inputs found by fuzzing have their own
// parser_*_test.cpp files. Every input is fed in one piece and again in
// slices of 1, 2, 3 and 7 bytes (as a socket may deliver it); all runs must
// agree exactly (STYLE.md: feed the parser byte by byte). The driver is in
// parser_fixture.hpp.
#include "base/http/parser.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "parser_fixture.hpp"

using gateway::http::Event;
using gateway::http::Parser;
using gateway::http::Request;
using namespace gateway::http::testing;

TEST_SUITE("http parser: requests") {
  TEST_CASE("a simple GET is parsed into method, target, version and fields") {
    std::string in = "GET /index.html?x=1&y=2 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: test/1.0\r\nAccept: */*\r\n\r\n";
    auto o = parse_request(in);
    REQUIRE(o.error_status == 0);
    REQUIRE(o.messages.size() == 1);
    const auto& r = o.messages[0];
    CHECK(r.method == "GET");
    CHECK(r.target == "/index.html?x=1&y=2");
    CHECK(r.path() == "/index.html");
    CHECK(r.query() == "x=1&y=2");
    CHECK(r.version_minor == 1);
    CHECK(header_names(r.headers) == "Host,User-Agent,Accept");
    CHECK(r.headers.get("host") == "example.com");
    CHECK(r.headers.get("User-Agent") == "test/1.0");
    CHECK(r.headers.get("Accept") == "*/*");
    CHECK(r.keep_alive);
    CHECK_FALSE(r.chunked);
    CHECK_FALSE(r.content_length.has_value());
    CHECK_FALSE(r.has_body());
    CHECK_FALSE(r.expect_continue);
    CHECK(o.bodies[0].empty());
    CHECK(o.ends[0] == in.size());
    CHECK(o.heads == 1);
  }

  TEST_CASE("leading and trailing whitespace around a field value is not part of the value") {
    auto o = parse_request("GET / HTTP/1.1\r\nHost:   example.com\r\nX-A:\tv a l\r\n\r\n");
    REQUIRE(o.messages.size() == 1);
    CHECK(o.messages[0].headers.get("Host") == "example.com");
    CHECK(o.messages[0].headers.get("X-A") == "v a l");
  }

  TEST_CASE("a field with an empty value stays separate from the next field") {
    auto o = parse_request("GET / HTTP/1.1\r\nHost: h\r\nX-Empty:\r\nX-Next: v\r\n\r\n");
    REQUIRE(o.messages.size() == 1);
    const auto& h = o.messages[0].headers;
    CHECK(header_names(h) == "Host,X-Empty,X-Next");
    CHECK(h.get("X-Empty") == "");
    CHECK(h.get("X-Next") == "v");
  }

  TEST_CASE("a POST body of Content-Length bytes comes back whole") {
    std::string in = "POST /submit HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world";
    auto o = parse_request(in);
    REQUIRE(o.messages.size() == 1);
    const auto& r = o.messages[0];
    CHECK(r.method == "POST");
    CHECK(r.content_length == 11u);
    CHECK_FALSE(r.chunked);
    CHECK(r.has_body());
    CHECK(o.bodies[0] == "hello world");
    CHECK(o.ends[0] == in.size());
  }

  TEST_CASE("Content-Length: 0 is a message without a body") {
    auto o = parse_request("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
    REQUIRE(o.messages.size() == 1);
    CHECK(o.messages[0].content_length == 0u);
    CHECK_FALSE(o.messages[0].has_body());
    CHECK(o.bodies[0].empty());
  }

  TEST_CASE("a chunked body comes back compacted, without the chunk framing") {
    std::string in =
        "POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5\r\nhello\r\n"
        "6;name=value\r\n world\r\n"
        "A\r\n0123456789\r\n"
        "0\r\n\r\n";
    auto o = parse_request(in);
    REQUIRE(o.error_status == 0);
    REQUIRE(o.messages.size() == 1);
    const auto& r = o.messages[0];
    CHECK(r.chunked);
    CHECK_FALSE(r.content_length.has_value());
    CHECK(r.has_body());
    CHECK(o.bodies[0] == "hello world0123456789");
    CHECK(o.ends[0] == in.size());
  }

  TEST_CASE("the body span of a single feed is one contiguous run inside the fed buffer") {
    std::string in =
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        "3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n";
    Parser p(Parser::Kind::request, {});
    Request req;
    p.start(req);
    auto r1 = p.feed(in.data(), in.size());
    REQUIRE(r1.event == Event::headers);
    CHECK(r1.body.empty());
    auto head_len = in.find("\r\n\r\n") + 4;
    CHECK(r1.consumed == head_len);
    auto r2 = p.feed(in.data() + r1.consumed, in.size() - r1.consumed);
    REQUIRE(r2.event == Event::message_done);
    CHECK(r2.consumed == in.size() - head_len);
    CHECK(std::string_view(r2.body.data(), r2.body.size()) == "abcdefg");
    CHECK(r2.body.data() >= in.data());
    CHECK(r2.body.data() + r2.body.size() <= in.data() + in.size());
    CHECK(p.body_received() == 7u);
    CHECK(p.message_done());
  }

  TEST_CASE("pipelined requests in one buffer are parsed in order at the right positions") {
    std::string a = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
    std::string b = "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc";
    std::string c = "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n0\r\n\r\n";
    std::string d = "DELETE /d HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
    auto o = parse_request(a + b + c + d);
    REQUIRE(o.error_status == 0);
    REQUIRE(o.messages.size() == 4);
    CHECK(o.messages[0].target == "/a");
    CHECK(o.messages[1].target == "/b");
    CHECK(o.messages[2].target == "/c");
    CHECK(o.messages[3].target == "/d");
    CHECK(o.messages[3].method == "DELETE");
    CHECK(o.bodies == std::vector<std::string>{"", "abc", "xy", ""});
    CHECK(o.ends == std::vector<std::size_t>{a.size(), a.size() + b.size(), a.size() + b.size() + c.size(),
                                             a.size() + b.size() + c.size() + d.size()});
    CHECK(o.messages[2].chunked);
    CHECK_FALSE(o.messages[0].content_length.has_value());  // state of one request does not leak into the next
    CHECK(o.messages[0].keep_alive);
    CHECK_FALSE(o.messages[3].keep_alive);
    CHECK(o.heads == 4);
  }

  TEST_CASE("the headers event stops right after the head, and the body stops at the message's end") {
    std::string head = "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n";
    std::string next = "GET /b HTTP/1.1\r\nHost: h\r\n\r\n";
    std::string in = head + "abc" + next;
    Parser p(Parser::Kind::request, {});
    Request req;
    p.start(req);
    auto r1 = p.feed(in.data(), in.size());
    CHECK(r1.event == Event::headers);
    CHECK(r1.consumed == head.size());
    CHECK(p.headers_done());
    CHECK_FALSE(p.message_done());
    CHECK(req.target == "/a");
    auto r2 = p.feed(in.data() + head.size(), in.size() - head.size());
    CHECK(r2.event == Event::message_done);
    CHECK(r2.consumed == 3u);
    CHECK(std::string_view(r2.body.data(), r2.body.size()) == "abc");
    p.start(req);
    CHECK_FALSE(p.in_message());
    auto r3 = p.feed(in.data() + head.size() + 3, next.size());
    CHECK(r3.event == Event::message_done);
    CHECK(r3.consumed == next.size());
    CHECK(req.target == "/b");
    CHECK(p.in_message());
  }

  TEST_CASE("a request without a body completes at the end of its head, without waiting for more bytes") {
    const char* inputs[] = {
        "GET / HTTP/1.1\r\nHost: h\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
    };
    for (std::string in : inputs) {
      INFO(in);
      Parser p(Parser::Kind::request, {});
      Request req;
      p.start(req);
      auto r = p.feed(in.data(), in.size());
      CHECK(r.event == Event::message_done);
      CHECK(r.consumed == in.size());
      CHECK(p.headers_done());
      CHECK(p.message_done());
    }
  }

  TEST_CASE("an absolute-form target becomes origin-form and its authority the Host") {
    struct Case {
      const char* target;
      const char* path;
      const char* host;
    };
    const Case cases[] = {
        {"http://Example.com:8080/a/b?q=1", "/a/b?q=1", "Example.com:8080"},
        {"http://example.com", "/", "example.com"},
        {"http://example.com?x=1", "/?x=1", "example.com"},
        {"https://secure.example/p", "/p", "secure.example"},
    };
    for (const auto& c : cases) {
      INFO(std::string(c.target));
      auto o = parse_request(std::string("GET ") + c.target + " HTTP/1.1\r\nHost: ignored.example\r\nX-A: 1\r\n\r\n");
      REQUIRE(o.messages.size() == 1);
      const auto& r = o.messages[0];
      CHECK(r.target == c.path);
      CHECK(r.headers.count("Host") == 1u);
      CHECK(r.headers.get("Host") == c.host);
      CHECK(r.headers.get("X-A") == "1");
    }
  }

  TEST_CASE("an absolute-form target supplies the Host an HTTP/1.1 request lacks") {
    auto o = parse_request("GET http://example.com/x HTTP/1.1\r\n\r\n");
    REQUIRE(o.messages.size() == 1);
    CHECK(o.messages[0].target == "/x");
    CHECK(o.messages[0].headers.get("Host") == "example.com");
  }

  TEST_CASE("keep-alive follows the version and the Connection header") {
    struct Case {
      const char* version;
      const char* fields;
      int minor;
      bool keep_alive;
    };
    const Case cases[] = {
        {"HTTP/1.1", "", 1, true},
        {"HTTP/1.1", "Connection: close\r\n", 1, false},
        {"HTTP/1.1", "Connection: Close\r\n", 1, false},
        {"HTTP/1.1", "Connection: keep-alive\r\n", 1, true},
        {"HTTP/1.0", "", 0, false},
        {"HTTP/1.0", "Connection: keep-alive\r\n", 0, true},
        {"HTTP/1.0", "Connection: Keep-Alive\r\n", 0, true},
        {"HTTP/1.0", "Connection: close\r\n", 0, false},
    };
    for (const auto& c : cases) {
      INFO((std::string(c.version) + " " + c.fields));
      // HTTP/1.0 needs no Host.
      std::string host = c.minor == 1 ? "Host: h\r\n" : "";
      auto o = parse_request(std::string("GET / ") + c.version + "\r\n" + host + c.fields + "\r\n");
      REQUIRE(o.messages.size() == 1);
      CHECK(o.messages[0].version_minor == c.minor);
      CHECK(o.messages[0].keep_alive == c.keep_alive);
    }
  }

  TEST_CASE("Expect: 100-continue sets expect_continue on HTTP/1.1 only") {
    auto o = parse_request("PUT /f HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\ndata");
    REQUIRE(o.messages.size() == 1);
    CHECK(o.messages[0].expect_continue);
    CHECK(o.bodies[0] == "data");

    auto mixed_case = parse_request("PUT /f HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\nx");
    REQUIRE(mixed_case.messages.size() == 1);
    CHECK(mixed_case.messages[0].expect_continue);

    auto old = parse_request("PUT /f HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx");
    REQUIRE(old.messages.size() == 1);
    CHECK_FALSE(old.messages[0].expect_continue);

    auto none = parse_request("PUT /f HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nx");
    REQUIRE(none.messages.size() == 1);
    CHECK_FALSE(none.messages[0].expect_continue);
  }

  TEST_CASE("an Expect other than 100-continue is refused with 417 before the headers event") {
    auto o = parse_request("PUT /f HTTP/1.1\r\nHost: h\r\nExpect: something-else\r\nContent-Length: 1\r\n\r\nx");
    CHECK(o.error_status == 417);
    CHECK_FALSE(o.error_reason.empty());
    CHECK(o.heads == 0);
    CHECK(o.messages.empty());
  }

  TEST_CASE("a failed parser keeps reporting the error until reset") {
    std::string bad = "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n";
    std::string good = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    Parser p(Parser::Kind::request, {});
    Request req;
    p.start(req);
    CHECK(p.feed(bad.data(), bad.size()).event == Event::error);
    CHECK(p.error_status() == 400);
    auto again = p.feed(good.data(), good.size());
    CHECK(again.event == Event::error);
    CHECK(again.consumed == 0u);
    p.reset();
    p.start(req);
    CHECK(p.error_status() == 0);
    CHECK(p.error_reason().empty());
    CHECK(p.feed(good.data(), good.size()).event == Event::message_done);
  }
}
