// Tests for a response parser started for a request that asked to upgrade
// (issue 11, WebSocket): the instance's 101 is the final head, the message
// ends with it, and the bytes after it are left unconsumed for the tunnel,
// however the input is sliced. Without the upgrade flag a 101 stays an error
// (parser_response_test.cpp).
#include <doctest/doctest.h>

#include <string>

#include "base/http/parser.hpp"

using gateway::http::Event;
using gateway::http::Parser;
using gateway::http::ParserLimits;
using gateway::http::Response;

namespace {

const std::string kHead =
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";

// Feeds `input` `slice` bytes at a time as a connection would (unconsumed
// bytes kept, the next slice appended) until message_done or an error.
// Returns the event and the bytes left unconsumed (with those not fed yet).
std::pair<Event, std::string> feed(const std::string& input, std::size_t slice, Response& resp, bool upgrade,
                                   Parser::Interim interim = Parser::Interim::skip) {
  Parser p(Parser::Kind::response, ParserLimits{});
  p.start(resp, false, interim, upgrade);
  std::string buf;
  std::size_t next = 0;
  for (;;) {
    if (next < input.size()) {
      buf.append(input, next, slice);
      next = std::min(input.size(), next + slice);
    }
    auto r = p.feed(buf.data(), buf.size());
    buf.erase(0, r.consumed);
    if (r.event == Event::message_done || r.event == Event::error) return {r.event, buf + input.substr(next)};
    if (r.event == Event::interim) continue;
    if (next >= input.size() && r.event == Event::need_more) return {r.event, buf};
  }
}

}  // namespace

TEST_CASE("http parser: a 101 to an upgrade request ends the message and leaves the tunnel's bytes, in any slicing") {
  for (std::size_t slice : {std::size_t(1), std::size_t(2), std::size_t(7), std::size_t(4096)}) {
    CAPTURE(slice);
    Response resp;
    auto [event, rest] = feed(kHead + "\x81\x05hello", slice, resp, true);
    CHECK(event == Event::message_done);
    CHECK(resp.status == 101);
    CHECK(resp.headers.get_all("Upgrade") == "websocket");
    CHECK(rest == "\x81\x05hello");
  }
}

TEST_CASE("http parser: a 101 after a 103 is still the final head when the request asked to upgrade") {
  Response resp;
  auto [event, rest] = feed("HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + kHead + "x", 3, resp, true);
  CHECK(event == Event::message_done);
  CHECK(resp.status == 101);
  CHECK(rest == "x");
}

TEST_CASE("http parser: without the upgrade flag a 101 is refused (502)") {
  Response resp;
  auto [event, rest] = feed(kHead, 4096, resp, false);
  CHECK(event == Event::error);
}

TEST_CASE("http parser: an upgrade request answered otherwise is an ordinary response with its body") {
  Response resp;
  auto [event, rest] = feed("HTTP/1.1 403 Forbidden\r\nContent-Length: 4\r\n\r\nnope", 1, resp, true);
  CHECK(event == Event::message_done);
  CHECK(resp.status == 403);
  CHECK(rest.empty());
}
