// Tests for interim (1xx) responses in gateway/http: the response parser
// started with Interim::report yields each interim head with its fields
// (Event::interim) before the final response, fed whole and byte by byte;
// a 1xx never has a body; the limits hold; and the serializer writes an
// interim head without framing fields. Issue 10: 103 Early Hints from an
// instance were dropped.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/http/parser.hpp"
#include "base/http/serializer.hpp"

using gateway::http::Event;
using gateway::http::HeaderMap;
using gateway::http::Parser;
using gateway::http::ParserLimits;
using gateway::http::Response;

namespace {

constexpr std::size_t kWhole = static_cast<std::size_t>(-1);

std::string describe(const Response& r) {
  std::string s = std::to_string(r.status) + " " + r.reason;
  r.headers.for_each([&](const HeaderMap::Field& f) { s.append(" | ").append(f.name).append(": ").append(f.value); });
  return s;
}

// What the parser reported over one input: "interim <head> end=N" and
// "final <head> body=[...] end=N" lines, then the error if any.
struct Seen {
  std::vector<std::string> events;
  int error_status = 0;
  std::string error_reason;
  std::string summary() const {
    std::string s;
    for (const auto& e : events) s += e + "\n";
    return s + "error=" + std::to_string(error_status) + " " + error_reason;
  }
};

Seen run(std::string_view input, std::size_t slice, const ParserLimits& limits, Parser::Interim mode, bool eof) {
  Parser p(Parser::Kind::response, limits);
  Response msg;
  std::string body;
  p.start(msg, false, mode);
  Seen seen;
  std::string buf;
  std::size_t base = 0, given = 0;
  while (given < input.size()) {
    auto n = std::min(slice, input.size() - given);
    buf.append(input.substr(given, n));
    given += n;
    std::size_t off = 0;
    for (int guard = 0; off < buf.size(); ++guard) {
      if (guard == 64) FAIL("the parser makes no progress");
      auto r = p.feed(buf.data() + off, buf.size() - off);
      if (r.event == Event::error) {
        seen.error_status = p.error_status();
        seen.error_reason = p.error_reason();
        return seen;
      }
      off += r.consumed;
      body.append(r.body.data(), r.body.size());
      if (r.event == Event::need_more) break;
      const auto end = " end=" + std::to_string(base + off);
      if (r.event == Event::interim) {
        seen.events.push_back("interim " + describe(msg) + end);
      } else if (r.event == Event::message_done) {
        seen.events.push_back("final " + describe(msg) + " body=[" + body + "]" + end);
        body.clear();
        p.start(msg, false, mode);
      }
    }
    buf.erase(0, off);
    base += off;
  }
  if (eof && p.finish().event == Event::error) {
    seen.error_status = p.error_status();
    seen.error_reason = p.error_reason();
  }
  return seen;
}

// Whole, then in slices of 1, 2, 3 and 7 bytes: every run must agree.
Seen parse(std::string_view input, Parser::Interim mode = Parser::Interim::report, const ParserLimits& limits = {},
           bool eof = false) {
  auto whole = run(input, kWhole, limits, mode, eof);
  for (std::size_t k : {1, 2, 3, 7}) {
    INFO("fed in slices of " << k << " bytes");
    CHECK(run(input, k, limits, mode, eof).summary() == whole.summary());
  }
  return whole;
}

using Lines = std::vector<std::string>;

const std::string kHints = "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n";
const std::string kOk = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

}  // namespace

TEST_SUITE("http parser: interim responses") {
  TEST_CASE("103 Early Hints is reported with its fields, then the final response") {
    auto seen = parse(kHints + kOk);
    CHECK(seen.error_status == 0);
    CHECK(seen.events == Lines{"interim 103 Early Hints | Link: </s.css>; rel=preload end=" + std::to_string(kHints.size()),
                               "final 200 OK | Content-Length: 2 body=[ok] end=" + std::to_string(kHints.size() + kOk.size())});
  }

  TEST_CASE("several interim responses come in order, each with only its own fields") {
    const std::string heads[] = {
        "HTTP/1.1 100 Continue\r\n\r\n",
        "HTTP/1.1 102 Processing\r\n\r\n",
        "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\nLink: </b.js>; rel=preload\r\n\r\n",
        "HTTP/1.1 201 Created\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n"};
    std::vector<std::string> ends;
    std::string in;
    for (const auto& h : heads) ends.push_back(std::to_string((in += h).size()));
    auto seen = parse(in);
    CHECK(seen.error_status == 0);
    CHECK(seen.events == Lines{"interim 100 Continue end=" + ends[0], "interim 102 Processing end=" + ends[1],
                               "interim 103 Early Hints | Link: </a.css>; rel=preload | Link: </b.js>; rel=preload end=" +
                                   ends[2],
                               "final 201 Created | Location: /x | Content-Length: 0 body=[] end=" + ends[3]});
  }

  TEST_CASE("a 1xx has no body whatever its framing fields say, reported or skipped") {
    const std::string framed = "HTTP/1.1 103 Early Hints\r\nContent-Length: 5\r\n\r\n";
    std::string in = framed + "HTTP/1.1 199 Whatever\r\nTransfer-Encoding: chunked\r\n\r\n" + kOk;
    auto seen = parse(in);
    CHECK(seen.error_status == 0);
    REQUIRE(seen.events.size() == 3);
    CHECK(seen.events[0] == "interim 103 Early Hints | Content-Length: 5 end=" + std::to_string(framed.size()));
    CHECK(seen.events[1].rfind("interim 199 Whatever", 0) == 0);
    CHECK(seen.events[2] == "final 200 OK | Content-Length: 2 body=[ok] end=" + std::to_string(in.size()));

    auto skipped = parse(in, Parser::Interim::skip);
    CHECK(skipped.error_status == 0);
    CHECK(skipped.events == Lines{"final 200 OK | Content-Length: 2 body=[ok] end=" + std::to_string(in.size())});
  }

  // The fuzz target's regressions (fuzz/regressions/response_parser/
  // interim-response-body-joins-the-final, interim-chunked-body-joins-the-
  // final): llhttp read a body for a 1xx framed by its Content-Length or
  // chunked coding, and those bytes came out in front of the final
  // response's ("abc" + "ok" under Content-Length: 2). The 1xx head ends
  // at its blank line: what follows must be a status line, and these are
  // not, so the response is refused and no byte of it goes out as a body.
  TEST_CASE("bytes after a 1xx head are the next head, never a body: the fuzz regressions are a 502") {
    const std::string sized = "HTTP/1.1 103 Early Hints\r\nContent-Length: 3\r\n\r\n";
    const std::string chunked = "HTTP/1.1 100 Continue\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (const auto& [head, content] : {std::pair{sized, std::string("abc")}, std::pair{chunked, std::string("3\r\nabc\r\n0\r\n\r\n")}}) {
      CAPTURE(head);
      auto reported = parse(head + content + kOk);
      CHECK(reported.events.size() == 1);  // the interim head alone
      CHECK(reported.error_status == 502);
      auto skipped = parse(head + content + kOk, Parser::Interim::skip);
      CHECK(skipped.events.empty());
      CHECK(skipped.error_status == 502);
    }
  }

  TEST_CASE("the next response on the connection is parsed after a final one that followed interims") {
    auto seen = parse(kHints + kOk + kHints + kOk);
    CHECK(seen.error_status == 0);
    REQUIRE(seen.events.size() == 4);
    CHECK(seen.events[2].rfind("interim 103 Early Hints", 0) == 0);
    CHECK(seen.events[3].rfind("final 200 OK", 0) == 0);
  }

  TEST_CASE("each head has its own header limits, interim or final") {
    ParserLimits limits;
    limits.header_bytes = 40;
    limits.headers = 2;
    std::string interim = "HTTP/1.1 103 Early Hints\r\nLink: </" + std::string(20, 'a') + ">\r\n\r\n";
    auto seen = parse(interim + interim + kOk, Parser::Interim::report, limits);
    CHECK(seen.error_status == 0);
    CHECK(seen.events.size() == 3);
    std::string too_many = "HTTP/1.1 103 Early Hints\r\nLink: <a>\r\nLink: <b>\r\nLink: <c>\r\n\r\n";
    CHECK(parse(too_many + kOk, Parser::Interim::report, limits).error_status == 502);
  }

  TEST_CASE("more interim responses than kMaxInterim before a final one are a 502") {
    std::string in;
    for (int i = 0; i < Parser::kMaxInterim; ++i) in += kHints;
    auto at_limit = parse(in + kOk);
    CHECK(at_limit.error_status == 0);
    CHECK(at_limit.events.size() == static_cast<std::size_t>(Parser::kMaxInterim) + 1);
    for (auto mode : {Parser::Interim::report, Parser::Interim::skip}) {
      auto over = parse(in + kHints + kOk, mode);
      CHECK(over.error_status == 502);
      CHECK(over.error_reason == "too many interim responses");
    }
  }

  TEST_CASE("101 stays an error, and a stream that ends after an interim is a cut response") {
    auto upgrade = parse(kHints + "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
    CHECK(upgrade.events.size() == 1);
    CHECK(upgrade.error_status == 502);
    auto cut = parse(kHints, Parser::Interim::report, {}, true);
    CHECK(cut.events.size() == 1);
    CHECK(cut.error_status == 502);
  }
}

TEST_SUITE("http serializer: interim responses") {
  TEST_CASE("an interim head keeps its status, reason and fields, without framing fields") {
    Response r;
    r.status = 103;
    r.reason = "Early Hints";
    r.headers.add("Link", "</s.css>; rel=preload");
    r.headers.add("Content-Length", "5");
    r.headers.add("transfer-encoding", "chunked");
    r.headers.add("Link", "</a.js>; rel=preload");
    std::string out = "before|";
    gateway::http::serialize_interim_head(r, out);
    CHECK(out == "before|HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\nLink: </a.js>; rel=preload\r\n\r\n");
  }

  TEST_CASE("an interim head without a reason gets the standard one") {
    Response r;
    r.status = 103;
    std::string out;
    gateway::http::serialize_interim_head(r, out);
    CHECK(out == "HTTP/1.1 103 Early Hints\r\n\r\n");
    r.status = 102;
    out.clear();
    gateway::http::serialize_interim_head(r, out);
    CHECK(out == "HTTP/1.1 102 Processing\r\n\r\n");
  }
}
