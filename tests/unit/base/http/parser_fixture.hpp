// The parser tests' driver, shared by tests/unit/base/http/parser_*_test.cpp:
// parse_request and parse_response feed an input to a Parser in one piece and
// again in slices of 1, 2, 3 and 7 bytes (as a socket may deliver it), check
// that all runs agree exactly (STYLE.md: feed the parser byte by byte) and
// return what the whole run produced: the messages, their bodies and end
// offsets, the heads reported and the error.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "base/http/parser.hpp"

namespace gateway::http::testing {

inline constexpr std::size_t kWhole = static_cast<std::size_t>(-1);

struct Options {
  ParserLimits limits{};
  bool head_request = false;  // responses: the request was HEAD
  bool eof = false;           // call finish() after the last byte
};

inline std::string fields(const gateway::http::HeaderMap& h) {
  std::string s;
  h.for_each([&](const gateway::http::HeaderMap::Field& f) {
    s.append(" | ").append(f.name).append(": ").append(f.value);
  });
  return s;
}

inline std::string describe(const Request& r) {
  return r.method + " " + r.target + " HTTP/1." + std::to_string(r.version_minor) +
         " keep_alive=" + std::to_string(r.keep_alive) + " chunked=" + std::to_string(r.chunked) +
         " cl=" + (r.content_length ? std::to_string(*r.content_length) : "-") +
         " expect=" + std::to_string(r.expect_continue) + fields(r.headers);
}

inline std::string describe(const Response& r) {
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

inline Outcome<Request> parse_request(std::string_view input, const Options& opt = {}) {
  return parse<Request>(input, opt);
}
inline Outcome<Response> parse_response(std::string_view input, const Options& opt = {}) {
  return parse<Response>(input, opt);
}

inline std::string header_names(const gateway::http::HeaderMap& h) {
  std::string s;
  h.for_each([&](const gateway::http::HeaderMap::Field& f) {
    if (!s.empty()) s += ",";
    s.append(f.name);
  });
  return s;
}

}  // namespace gateway::http::testing
