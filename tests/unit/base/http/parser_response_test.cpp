// Tests for gateway/http/parser, responses: bodies by Content-Length, chunked
// and close-delimited, interim 1xx, responses without a body (HEAD, 204,
// 304), keep-alive and framing errors. Every input is fed in one piece and
// again in slices of 1, 2, 3 and 7 bytes (as a socket may deliver it); all
// runs must agree exactly (STYLE.md: feed the parser byte by byte). The
// driver is in parser_fixture.hpp.
#include "base/http/parser.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "parser_fixture.hpp"

using gateway::http::Event;
using gateway::http::Parser;
using gateway::http::Response;
using namespace gateway::http::testing;

TEST_SUITE("http parser: responses") {
  TEST_CASE("a response body of Content-Length bytes comes back whole") {
    std::string in = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello";
    auto o = parse_response(in);
    REQUIRE(o.error_status == 0);
    REQUIRE(o.messages.size() == 1);
    const auto& r = o.messages[0];
    CHECK(r.status == 200);
    CHECK(r.reason == "OK");
    CHECK(r.version_minor == 1);
    CHECK(r.content_length == 5u);
    CHECK_FALSE(r.chunked);
    CHECK(r.keep_alive);
    CHECK(header_names(r.headers) == "Content-Length,Content-Type");
    CHECK(o.bodies[0] == "hello");
    CHECK(o.ends[0] == in.size());
    CHECK(o.heads == 1);
  }

  TEST_CASE("a chunked response body comes back without the framing") {
    std::string in = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n";
    auto o = parse_response(in);
    REQUIRE(o.messages.size() == 1);
    CHECK(o.messages[0].chunked);
    CHECK_FALSE(o.messages[0].content_length.has_value());
    CHECK(o.bodies[0] == "Wikipedia");
    CHECK(o.ends[0] == in.size());
  }

  TEST_CASE("a close-delimited body is completed by finish()") {
    std::string in = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the connection closes";
    auto open = parse_response(in);
    CHECK(open.messages.empty());  // without the end of the stream it never completes
    CHECK(open.error_status == 0);

    auto o = parse_response(in, {{}, false, true});
    REQUIRE(o.error_status == 0);
    REQUIRE(o.messages.size() == 1);
    CHECK(o.bodies[0] == "until the connection closes");
    CHECK_FALSE(o.messages[0].keep_alive);
    CHECK_FALSE(o.messages[0].content_length.has_value());
  }

  TEST_CASE("a body cut short by the end of the stream makes finish() an error") {
    struct Case {
      const char* name;
      const char* input;
    };
    const Case cases[] = {
        {"Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"},
        {"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"},
        {"chunked without the last chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n"},
        {"head", "HTTP/1.1 200 OK\r\nContent-Len"},
    };
    for (const auto& c : cases) {
      INFO(std::string(c.name));
      auto o = parse_response(c.input, {{}, false, true});
      CHECK(o.error_status == 502);
      CHECK_FALSE(o.error_reason.empty());
      CHECK(o.messages.empty());
    }
  }

  TEST_CASE("interim 1xx responses before the final one are skipped") {
    std::string in =
        "HTTP/1.1 100 Continue\r\n\r\n"
        "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
        "HTTP/1.1 201 Created\r\nContent-Length: 2\r\nLocation: /x\r\n\r\nok";
    auto o = parse_response(in);
    REQUIRE(o.error_status == 0);
    REQUIRE(o.messages.size() == 1);
    const auto& r = o.messages[0];
    CHECK(r.status == 201);
    CHECK(r.reason == "Created");
    CHECK(header_names(r.headers) == "Content-Length,Location");
    CHECK_FALSE(r.headers.contains("Link"));
    CHECK(o.bodies[0] == "ok");
    CHECK(o.ends[0] == in.size());
    CHECK(o.heads == 1);
  }

  TEST_CASE("101 Switching Protocols from an upstream is an error") {
    auto o = parse_response("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
    CHECK(o.error_status == 502);
    CHECK_FALSE(o.error_reason.empty());
    CHECK(o.messages.empty());
  }

  TEST_CASE("a response to HEAD has no body whatever its Content-Length says") {
    std::string first = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
    std::string second = "HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\n";
    auto o = parse_response(first + second, {{}, true, false});
    REQUIRE(o.error_status == 0);
    REQUIRE(o.messages.size() == 2);
    CHECK(o.messages[0].status == 200);
    CHECK(o.messages[0].content_length == 5u);  // kept: it describes the GET
    CHECK(o.messages[1].status == 404);
    CHECK(o.bodies == std::vector<std::string>{"", ""});
    CHECK(o.ends == std::vector<std::size_t>{first.size(), first.size() + second.size()});
    CHECK(o.heads == 2);
  }

  TEST_CASE("a response to HEAD completes with one feed and no headers event") {
    std::string in = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
    Parser p(Parser::Kind::response, {});
    Response resp;
    p.start(resp, true);
    auto r = p.feed(in.data(), in.size());
    CHECK(r.event == Event::message_done);
    CHECK(r.consumed == in.size());
    CHECK(r.body.empty());
    CHECK(p.headers_done());
  }

  TEST_CASE("204 and 304 responses have no body") {
    std::string no_content = "HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n";
    std::string not_modified = "HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\n\r\n";
    std::string next = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    auto o = parse_response(no_content + not_modified + next);
    REQUIRE(o.error_status == 0);
    REQUIRE(o.messages.size() == 3);
    CHECK(o.messages[0].status == 204);
    CHECK(o.messages[1].status == 304);
    CHECK(o.messages[1].headers.get("ETag") == "\"v1\"");
    CHECK(o.messages[2].status == 200);
    CHECK(o.bodies == std::vector<std::string>{"", "", "ok"});
    CHECK(o.ends == std::vector<std::size_t>{no_content.size(), no_content.size() + not_modified.size(),
                                             no_content.size() + not_modified.size() + next.size()});
  }

  TEST_CASE("a 204 or 304 with Content-Length has no body") {
    const char* heads[] = {
        "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n",
        "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
    };
    std::string next = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    for (std::string head : heads) {
      INFO(head);
      auto o = parse_response(head + next);
      CHECK(o.error_status == 0);
      CHECK(o.messages.size() == 2);
      if (o.messages.size() != 2) continue;
      CHECK(o.bodies[0] == "");
      CHECK(o.ends[0] == head.size());
      CHECK(o.messages[1].status == 200);
      CHECK(o.bodies[1] == "ok");
    }
  }

  TEST_CASE("an HTTP/1.0 response closes the connection unless it says keep-alive") {
    auto plain = parse_response("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx");
    REQUIRE(plain.messages.size() == 1);
    CHECK(plain.messages[0].version_minor == 0);
    CHECK_FALSE(plain.messages[0].keep_alive);

    auto kept = parse_response("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx");
    REQUIRE(kept.messages.size() == 1);
    CHECK(kept.messages[0].keep_alive);

    auto closing = parse_response("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx");
    REQUIRE(closing.messages.size() == 1);
    CHECK_FALSE(closing.messages[0].keep_alive);
  }

  TEST_CASE("response framing errors are reported as 502") {
    struct Case {
      const char* name;
      const char* input;
    };
    const Case cases[] = {
        {"Content-Length and Transfer-Encoding",
         "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"},
        {"duplicate Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok"},
        {"whitespace before the colon", "HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok"},
        {"bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"},
        {"HTTP/2.0 status line", "HTTP/2.0 200 OK\r\nContent-Length: 2\r\n\r\nok"},
    };
    for (const auto& c : cases) {
      INFO(std::string(c.name));
      auto o = parse_response(c.input);
      CHECK(o.error_status == 502);
      CHECK_FALSE(o.error_reason.empty());
      CHECK(o.messages.empty());
    }
  }
}
