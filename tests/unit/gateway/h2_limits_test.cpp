// Tests for gateway/h2/limits: the h2c preface, the token buckets behind
// the rapid-reset and PING/SETTINGS budgets, the header block budget
// against CONTINUATION floods, and the conversions between HTTP/1 heads
// and HTTP/2 fields.
#include "gateway/h2/limits.hpp"

#include <doctest/doctest.h>

#include <string>

using gateway::h2::Fields;
using gateway::h2::HeaderBlockBudget;
using gateway::h2::PrefaceMatch;
using gateway::h2::TokenBucket;
namespace h2 = gateway::h2;
namespace http = gateway::http;

TEST_CASE("h2c preface: whole, partial, or not at all") {
  struct Case {
    std::string bytes;
    PrefaceMatch want;
  };
  const Case cases[] = {
      {"", PrefaceMatch::partial},
      {"P", PrefaceMatch::partial},
      {"PRI * HTTP/2.0\r\n", PrefaceMatch::partial},
      {"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", PrefaceMatch::yes},
      {"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04", PrefaceMatch::yes},
      {"GET / HTTP/1.1\r\n", PrefaceMatch::no},
      {"PRI * HTTP/1.1\r\n", PrefaceMatch::no},
      {"POST", PrefaceMatch::no},
  };
  for (const auto& c : cases) {
    CAPTURE(c.bytes);
    CHECK(h2::match_preface(c.bytes) == c.want);
  }
}

TEST_CASE("token bucket: a burst, then the rate") {
  using Clock = TokenBucket::Clock;
  const auto t0 = Clock::time_point{} + std::chrono::hours(1);
  TokenBucket b(3, 2);
  CHECK(b.take(t0));
  CHECK(b.take(t0));
  CHECK(b.take(t0));
  CHECK_FALSE(b.take(t0));  // burst spent
  CHECK_FALSE(b.take(t0 + std::chrono::milliseconds(100)));  // 0.2 token back: not enough
  CHECK(b.take(t0 + std::chrono::milliseconds(600)));        // 1.2 tokens back
  CHECK_FALSE(b.take(t0 + std::chrono::milliseconds(600)));
  // Idle long enough: back to the burst, never more.
  const auto later = t0 + std::chrono::seconds(60);
  CHECK(b.take(later));
  CHECK(b.take(later));
  CHECK(b.take(later));
  CHECK_FALSE(b.take(later));
}

TEST_CASE("token bucket: a rate of zero is the burst for the connection's life") {
  const auto t0 = TokenBucket::Clock::time_point{} + std::chrono::hours(1);
  TokenBucket b(2, 0);
  CHECK(b.take(t0));
  CHECK(b.take(t0 + std::chrono::seconds(100)));
  CHECK_FALSE(b.take(t0 + std::chrono::seconds(1000)));
}

TEST_CASE("header block budget: CONTINUATION frames and bytes per block") {
  HeaderBlockBudget budget(2, 1000);
  CHECK(budget.on_frame(true, 100));
  CHECK(budget.on_frame(false, 100));
  CHECK(budget.on_frame(false, 100));
  CHECK_FALSE(budget.on_frame(false, 1));  // a third CONTINUATION
  // A new block starts afresh.
  CHECK(budget.on_frame(true, 900));
  CHECK(budget.on_frame(false, 100));
  CHECK_FALSE(budget.on_frame(false, 1));  // 1001 bytes
  CHECK_FALSE(budget.on_frame(true, 1001));
}

TEST_CASE("connection-specific fields") {
  for (const char* name : {"Connection", "keep-alive", "Proxy-Connection", "Transfer-Encoding", "UPGRADE"}) {
    CAPTURE(name);
    CHECK(h2::connection_specific(name));
  }
  for (const char* name : {"Content-Length", "TE", "X-Cache", "Date", "connections"}) {
    CAPTURE(name);
    CHECK_FALSE(h2::connection_specific(name));
  }
}

TEST_CASE("a response as HTTP/2 fields: :status first, lowercase names, no connection fields") {
  http::Response r;
  r.status = 404;
  r.headers.add("Content-Type", "text/plain");
  r.headers.add("Connection", "close");
  r.headers.add("Transfer-Encoding", "chunked");
  r.headers.add("Set-Cookie", "a=1");
  r.headers.add("Set-Cookie", "b=2");
  const Fields want = {{":status", "404"}, {"content-type", "text/plain"}, {"set-cookie", "a=1"}, {"set-cookie", "b=2"}};
  CHECK(h2::response_fields(r) == want);
}

TEST_CASE("a stored HTTP/1 head back into fields, with the extra fields") {
  Fields out;
  int status = 0;
  REQUIRE(h2::head_to_fields("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nKeep-Alive: timeout=5\r\nETag: \"x\"\r\n",
                             "Age: 3\r\nX-Cache: HIT\r\n", out, status));
  CHECK(status == 200);
  const Fields want = {
      {":status", "200"}, {"content-type", "text/html"}, {"etag", "\"x\""}, {"age", "3"}, {"x-cache", "HIT"}};
  CHECK(out == want);
  CHECK_FALSE(h2::head_to_fields("not a head", "", out, status));
}

TEST_CASE("trailer lines as fields") {
  const Fields want = {{"grpc-status", "0"}, {"x-checksum", "abc"}};
  CHECK(h2::lines_to_fields("Grpc-Status: 0\r\nX-Checksum:  abc \r\nConnection: close\r\nbogus\r\n") == want);
  CHECK(h2::lines_to_fields("").empty());
}

namespace {
struct Built {
  http::Request req;
  bool fields_ok = true;
  std::string why;
};
Built build(const Fields& fields) {
  Built b;
  std::string authority, cookies;
  for (const auto& [n, v] : fields) b.fields_ok = b.fields_ok && h2::add_request_field(b.req, n, v, authority, cookies);
  b.why = h2::finish_request(b.req, authority, cookies);
  return b;
}
}  // namespace

TEST_CASE("request from HTTP/2 fields: pseudo-fields, Host, cookies joined") {
  auto b = build({{":method", "POST"},
                  {":scheme", "https"},
                  {":authority", "example.com:8443"},
                  {":path", "/api/x?y=1"},
                  {"cookie", "a=1"},
                  {"content-length", "5"},
                  {"cookie", "b=2"}});
  CHECK(b.fields_ok);
  CHECK(b.why.empty());
  CHECK(b.req.method == "POST");
  CHECK(b.req.target == "/api/x?y=1");
  CHECK(b.req.path() == "/api/x");
  CHECK(b.req.headers.get("Host") == "example.com:8443");
  CHECK(b.req.headers.get("Cookie") == "a=1; b=2");
  CHECK(b.req.content_length == 5u);
}

TEST_CASE("request from HTTP/2 fields: what is refused") {
  struct Case {
    Fields fields;
    bool fields_ok;
    bool routable;
  };
  const Case cases[] = {
      {{{":method", "GET"}, {":path", "/"}, {"host", "a.example"}}, true, true},                // Host without :authority
      {{{":method", "GET"}, {":path", "/"}}, true, false},                                      // no host at all
      {{{":method", "GET"}, {":path", "/"}, {":authority", "a/b"}}, true, false},                // invalid authority
      {{{":method", "CONNECT"}, {":authority", "a.example:443"}}, true, false},                  // CONNECT
      {{{":method", "GET"}, {":path", "x"}, {":authority", "a"}}, true, false},                  // not origin-form
      {{{":method", "GET"}, {":path", "/"}, {":authority", "a"}, {":protocol", "websocket"}}, false, true},
      {{{":method", "GET"}, {":path", "/"}, {":authority", "a"}, {"connection", "close"}}, false, true},
      {{{":method", "GET"}, {":path", "/"}, {":authority", "a"}, {"content-length", "1x"}}, false, true},
  };
  for (const auto& c : cases) {
    auto b = build(c.fields);
    CAPTURE(b.why);
    CHECK(b.fields_ok == c.fields_ok);
    CHECK(b.why.empty() == c.routable);
  }
}
