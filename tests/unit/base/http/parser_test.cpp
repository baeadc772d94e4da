// Tests for gateway/http/parser: requests and responses parsed from bytes,
// limits, and the inputs that must be refused. Every input is fed in one piece
// and again in slices of 1, 2, 3 and 7 bytes (as a socket may deliver it); all
// runs must agree exactly (STYLE.md: feed the parser byte by byte).
#include "base/http/parser.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

using gateway::http::Event;
using gateway::http::Parser;
using gateway::http::ParserLimits;
using gateway::http::Request;
using gateway::http::Response;

namespace {

constexpr std::size_t kWhole = static_cast<std::size_t>(-1);

struct Options {
  ParserLimits limits{};
  bool head_request = false;  // responses: the request was HEAD
  bool eof = false;           // call finish() after the last byte
};

std::string fields(const gateway::http::HeaderMap& h) {
  std::string s;
  h.for_each([&](const gateway::http::HeaderMap::Field& f) {
    s.append(" | ").append(f.name).append(": ").append(f.value);
  });
  return s;
}

std::string describe(const Request& r) {
  return r.method + " " + r.target + " HTTP/1." + std::to_string(r.version_minor) +
         " keep_alive=" + std::to_string(r.keep_alive) + " chunked=" + std::to_string(r.chunked) +
         " cl=" + (r.content_length ? std::to_string(*r.content_length) : "-") +
         " expect=" + std::to_string(r.expect_continue) + fields(r.headers);
}

std::string describe(const Response& r) {
  return std::to_string(r.status) + " " + r.reason + " HTTP/1." + std::to_string(r.version_minor) +
         " keep_alive=" + std::to_string(r.keep_alive) + " chunked=" + std::to_string(r.chunked) +
         " cl=" + (r.content_length ? std::to_string(*r.content_length) : "-") + fields(r.headers);
}

// What a run of the parser over one input produced.
template <class Msg>
struct Outcome {
  std::vector<Msg> messages;        // complete messages, in order
  std::vector<std::string> bodies;  // the body of each, chunk framing removed
  std::vector<std::size_t> ends;    // input offset just past each message
  int heads = 0;  // heads reported (a headers event, or message_done implying it)
  int error_status = 0;  // 0: no error
  std::string error_reason;
  bool error_after_headers = false;  // the failed message's head had been reported

  std::string summary() const {
    std::string s;
    for (std::size_t i = 0; i < messages.size(); ++i)
      s += describe(messages[i]) + " body=[" + bodies[i] + "] end=" + std::to_string(ends[i]) + "\n";
    s += "heads=" + std::to_string(heads) + " error=" + std::to_string(error_status) + " " +
         error_reason + " after_headers=" + std::to_string(error_after_headers);
    return s;
  }
};

// Hands `input` to a parser `slice` bytes at a time, like a connection that
// keeps unconsumed bytes and appends what the socket gives next.
template <class Msg>
Outcome<Msg> run(std::string_view input, std::size_t slice, const Options& opt) {
  constexpr bool is_request = std::is_same_v<Msg, Request>;
  Parser p(is_request ? Parser::Kind::request : Parser::Kind::response, opt.limits);
  Outcome<Msg> out;
  Msg msg;
  std::string body;
  bool headers_seen = false;
  auto begin = [&] {
    if constexpr (is_request) p.start(msg);
    else p.start(msg, opt.head_request);
    body.clear();
    headers_seen = false;
  };
  auto done = [&](std::size_t end) {
    if (!headers_seen) ++out.heads;
    out.messages.push_back(msg);
    out.bodies.push_back(body);
    out.ends.push_back(end);
    begin();
  };
  auto failed = [&] {
    out.error_status = p.error_status();
    out.error_reason = p.error_reason();
    out.error_after_headers = headers_seen;
    return out;
  };
  begin();

  std::string buf;        // handed over, not consumed yet
  std::size_t base = 0;   // input offset of buf[0]
  std::size_t given = 0;  // input bytes handed over
  while (given < input.size()) {
    auto n = std::min(slice, input.size() - given);
    buf.append(input.substr(given, n));
    given += n;
    std::size_t off = 0;
    for (int guard = 0; off < buf.size(); ++guard) {
      if (guard == 64) FAIL("the parser makes no progress");
      auto r = p.feed(buf.data() + off, buf.size() - off);
      if (r.consumed > buf.size() - off) FAIL("consumed more than it was given");
      if (r.event == Event::error) return failed();
      off += r.consumed;
      body.append(r.body.data(), r.body.size());
      if (r.event == Event::need_more) {
        if (off != buf.size()) FAIL_CHECK("need_more left bytes unconsumed");
        break;
      }
      if (r.event == Event::headers) {
        ++out.heads;
        headers_seen = true;
      } else {
        done(base + off);
      }
    }
    buf.erase(0, off);
    base += off;
  }
  if (opt.eof) {
    auto r = p.finish();
    if (r.event == Event::error) return failed();
    if (r.event == Event::message_done) done(input.size());
  }
  return out;
}

// Parses `input` whole, then in slices of 1, 2, 3 and 7 bytes; every run must
// give exactly the same messages, bodies, positions and errors.
template <class Msg>
Outcome<Msg> parse(std::string_view input, const Options& opt = {}) {
  auto whole = run<Msg>(input, kWhole, opt);
  for (std::size_t k : {1, 2, 3, 7}) {
    INFO("fed in slices of " << k << " bytes");
    CHECK(run<Msg>(input, k, opt).summary() == whole.summary());
  }
  return whole;
}

Outcome<Request> parse_request(std::string_view input, const Options& opt = {}) { return parse<Request>(input, opt); }
Outcome<Response> parse_response(std::string_view input, const Options& opt = {}) { return parse<Response>(input, opt); }

std::string header_names(const gateway::http::HeaderMap& h) {
  std::string s;
  h.for_each([&](const gateway::http::HeaderMap::Field& f) {
    if (!s.empty()) s += ",";
    s.append(f.name);
  });
  return s;
}

}  // namespace

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
