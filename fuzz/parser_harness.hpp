// The differential harness behind request_parser_fuzz and
// response_parser_fuzz: one input parsed whole, then cut in two at many
// offsets and byte by byte, as a socket may deliver it. Every delivery must
// give the same messages, bodies, message ends and error, since a parser whose
// result depends on where reads happen to end can be steered by a client (or
// an upstream) that times its writes.
//
// The caller loop is the connection's (tests/unit/base/http/parser_test.cpp
// has the same contract): unconsumed bytes are kept and fed again in front
// of the next ones; after message_done, start() and go on with the rest.
//
// Single-threaded; each libFuzzer input runs the whole harness. Any broken
// property aborts (libFuzzer reports it as a crash with the input).
#pragma once

#include <algorithm>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "base/http/parser.hpp"
#include "check.hpp"

namespace fuzz {

using gateway::http::Event;
using gateway::http::HeaderMap;
using gateway::http::Parser;
using gateway::http::ParserLimits;
using gateway::http::Request;
using gateway::http::Response;

struct Options {
  ParserLimits limits;
  bool head_request = false;  // responses: the request was HEAD
  bool eof = true;            // call finish() after the last byte
};

inline std::string describe_fields(const HeaderMap& h) {
  std::string s;
  h.for_each([&](const HeaderMap::Field& f) { s.append(" | ").append(f.name).append(": ").append(f.value); });
  return s;
}

inline std::string describe(const Request& r) {
  return r.method + " " + r.target + " HTTP/1." + std::to_string(r.version_minor) +
         " keep_alive=" + std::to_string(r.keep_alive) + " chunked=" + std::to_string(r.chunked) +
         " cl=" + (r.content_length ? std::to_string(*r.content_length) : "-") +
         " expect=" + std::to_string(r.expect_continue) + describe_fields(r.headers);
}

inline std::string describe(const Response& r) {
  return std::to_string(r.status) + " " + r.reason + " HTTP/1." + std::to_string(r.version_minor) +
         " keep_alive=" + std::to_string(r.keep_alive) + " chunked=" + std::to_string(r.chunked) +
         " cl=" + (r.content_length ? std::to_string(*r.content_length) : "-") + describe_fields(r.headers);
}

// What the parser promises about a message it delivered, whatever the input.
inline void check_message(const Request& r, std::string_view body, const Options& opt) {
  const auto& lim = opt.limits;
  check(!r.method.empty(), "request without a method");
  check(r.target.size() <= lim.uri_bytes + 1, "target over uri_bytes", r.target);  // +1: absolute-form adds '/'
  check(!r.target.empty() && (r.target.front() == '/' || r.target == "*"), "target not origin-form", r.target);
  check(r.headers.count("Host") <= 1, "more than one Host delivered", describe(r));
  if (auto host = r.headers.get("Host")) check(gateway::http::valid_host(*host), "invalid Host delivered", describe(r));
  check(r.version_minor == 0 || r.headers.contains("Host"), "HTTP/1.1 request without Host delivered", describe(r));
  check(!(r.chunked && r.content_length), "chunked with a Content-Length delivered", describe(r));
  check(!r.headers.contains("Transfer-Encoding") || (r.chunked && r.version_minor != 0),
        "Transfer-Encoding other than chunked delivered", describe(r));
  if (r.content_length) check(body.size() == *r.content_length, "body size differs from Content-Length", describe(r));
  if (lim.body_bytes) check(body.size() <= lim.body_bytes, "body over body_bytes delivered", describe(r));
  // The absolute-form authority may add one Host field.
  check(r.headers.size() <= lim.headers + 1, "more fields than the limit delivered", describe(r));
}

inline void check_message(const Response& r, std::string_view body, const Options& opt) {
  // RFC 9110 15: "Values outside the range 100..599 are invalid"; the cache
  // (decode_meta) and the stored-head reader refuse them as well.
  check(r.status >= 100 && r.status <= 599, "status code outside 100..599 delivered", describe(r));
  check(r.status >= 200, "interim response delivered as the final one", describe(r));
  check(r.reason.size() <= 256, "reason phrase over 256 bytes delivered");
  check(!(r.chunked && r.content_length), "chunked with a Content-Length delivered", describe(r));
  bool bodiless = opt.head_request || r.status == 204 || r.status == 304;
  if (bodiless) check(body.empty(), "body on a bodiless response", describe(r));
  else if (r.content_length)
    check(body.size() == *r.content_length, "body size differs from Content-Length", describe(r));
  check(r.headers.size() <= opt.limits.headers, "more fields than the limit delivered", describe(r));
}

// One delivery's result: messages, bodies, ends and where it failed as
// text, compared exactly; the error's status, compared by agree(); its
// reason, for the report only. A token that is both malformed and over a
// limit is refused either way, but by whom depends on where a read ends:
// llhttp reports a span to our callbacks only when the span ends, or when
// the buffer does. Whole, llhttp meets the bad byte first (400, "Invalid
// char in url"); cut inside the span, our callback sees the part so far
// and refuses its length first (414). So a limit's status may stand for a
// 400, and the reasons ("whitespace in header field name" for "Invalid
// header token") may differ; nothing else may.
struct Outcome {
  std::string text;
  int status = 0;  // 0: no error
  std::string reason;
  std::string show() const {
    return text + (status ? "status " + std::to_string(status) + ": " + reason + "\n" : "");
  }
};

inline bool limit_status(int status) { return status == 413 || status == 414 || status == 431; }
inline bool agree(const Outcome& a, const Outcome& b) {
  if (a.text != b.text) return false;
  return a.status == b.status || (limit_status(a.status) && b.status == 400) ||
         (a.status == 400 && limit_status(b.status));
}

template <class Msg>
Outcome run(std::string_view input, const std::vector<std::size_t>& cuts, const Options& opt) {
  constexpr bool is_request = std::is_same_v<Msg, Request>;
  Parser p(is_request ? Parser::Kind::request : Parser::Kind::response, opt.limits);
  Outcome out;
  Msg msg;
  std::string body;
  bool headers_seen = false;
  std::size_t head_end = 0;  // input offset just past the head, at the headers event
  std::size_t last_end = 0;  // input offset just past the previous message
  std::string head_seen;     // the message as the headers event showed it
  auto begin = [&] {
    if constexpr (is_request) p.start(msg);
    else p.start(msg, opt.head_request);
    body.clear();
    headers_seen = false;
  };
  auto done = [&](std::size_t end) {
    check(p.message_done(), "message_done event but not message_done()");
    check(end > last_end, "a message delivered without a byte of its own", describe(msg));
    // Strict framing (RFC 9112 2.1): the head ends with an empty line;
    // llhttp's non-strict build takes CR and any byte for CRLF. A bare LF
    // may end any line (RFC 9112 2.2: a recipient MAY take LF for a line
    // terminator; nginx does, and so does llhttp): the gateway writes every
    // head it forwards anew, with CRLF. So the head ends LF CRLF or LF LF.
    std::size_t head = headers_seen ? head_end : end;
    const bool lf_crlf = head >= 3 && input.substr(head - 3, 3) == "\n\r\n";
    const bool lf_lf = head >= 2 && input.substr(head - 2, 2) == "\n\n";
    check(lf_crlf || lf_lf, "a head that does not end in an empty line (CRLF, or a bare LF)", describe(msg));
    last_end = end;
    // What the caller acted on at the headers event (routing, forwarding
    // the head) is the message: a trailer section (RFC 9112 7.1.2) must not
    // add fields to it afterwards.
    if (headers_seen) check(describe(msg) == head_seen, "the head changed after the headers event",
                            "--- at the headers event\n" + head_seen + "\n--- at the end\n" + describe(msg));
    check_message(msg, body, opt);
    out.text += describe(msg) + " body=[" + body + "] end=" + std::to_string(end) +
           " heads=" + std::to_string(headers_seen) + "\n";
    begin();
  };
  auto failed = [&] {
    check(p.error_status() >= 400 && p.error_status() <= 599, "error status not 4xx/5xx",
          std::to_string(p.error_status()));
    check(!p.error_reason().empty(), "error without a reason");
    out.text += "error after_headers=" + std::to_string(headers_seen) + "\n";
    out.status = p.error_status();
    out.reason = p.error_reason();
    return out;
  };
  begin();

  std::string buf;       // handed over, not consumed yet
  std::size_t base = 0;  // input offset of buf[0]
  std::size_t given = 0;
  for (std::size_t i = 0; i <= cuts.size(); ++i) {
    std::size_t to = i < cuts.size() ? cuts[i] : input.size();
    buf.append(input.substr(given, to - given));
    given = to;
    std::size_t off = 0;
    int stalled = 0;
    while (off < buf.size()) {
      auto r = p.feed(buf.data() + off, buf.size() - off);
      check(r.consumed <= buf.size() - off, "consumed more than it was given");
      if (r.event == Event::error) return failed();
      const char* fed = buf.data() + off;
      check(r.body.empty() || (r.body.data() >= fed && r.body.data() + r.body.size() <= fed + r.consumed),
            "body span outside the consumed bytes");
      off += r.consumed;
      body.append(r.body.data(), r.body.size());
      if (r.event == Event::need_more) {
        check(off == buf.size(), "need_more left bytes unconsumed");
        break;
      }
      stalled = r.consumed == 0 ? stalled + 1 : 0;
      check(stalled < 3, "the parser makes no progress");
      if (r.event == Event::headers) {
        check(!headers_seen, "two headers events for one message");
        headers_seen = true;
        head_end = base + off;
        head_seen = describe(msg);
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
  out.text += "open=" + std::to_string(p.in_message()) + "\n";
  return out;
}

// Where to cut the input in two: everywhere for short inputs; for longer
// ones around the bytes that delimit things (CR, LF, ':', ';', digits after
// them matter most to a state machine) plus evenly spaced offsets, at most
// kMaxCuts, so one input costs a bounded amount of work.
inline std::vector<std::size_t> cut_points(std::string_view input) {
  constexpr std::size_t kEvery = 256, kMaxCuts = 160;
  std::vector<std::size_t> cuts;
  const std::size_t n = input.size();
  if (n < 2) return cuts;
  if (n <= kEvery) {
    for (std::size_t i = 1; i < n; ++i) cuts.push_back(i);
    return cuts;
  }
  for (std::size_t i = 0; i < n && cuts.size() < kMaxCuts / 2; ++i) {
    char c = input[i];
    if (c == '\r' || c == '\n' || c == ':' || c == ';') {
      if (i > 0) cuts.push_back(i);
      if (i + 1 < n) cuts.push_back(i + 1);
    }
  }
  for (std::size_t k = 1; cuts.size() < kMaxCuts && k < kMaxCuts; ++k) cuts.push_back(k * n / kMaxCuts);
  std::sort(cuts.begin(), cuts.end());
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
  return cuts;
}

// Whole, in two at every cut point, and byte by byte: all must agree.
template <class Msg>
void differential(std::string_view input, const Options& opt) {
  const Outcome whole = run<Msg>(input, {}, opt);
  for (std::size_t cut : cut_points(input)) {
    Outcome split = run<Msg>(input, {cut}, opt);
    if (!agree(split, whole))
      fail("split delivery differs from whole",
           "cut at " + std::to_string(cut) + "\n--- whole\n" + whole.show() + "--- split\n" + split.show());
  }
  std::vector<std::size_t> bytes;
  for (std::size_t i = 1; i < input.size(); ++i) bytes.push_back(i);
  Outcome one = run<Msg>(input, bytes, opt);
  if (!agree(one, whole))
    fail("byte-by-byte delivery differs from whole", "--- whole\n" + whole.show() + "--- bytes\n" + one.show());
}

}  // namespace fuzz
