// A GET with a body on a cached route (issue 10 item 2): it used to get no
// answer at all, since the cache fetched with the client's Content-Length
// and no body. Such a request is never served from nor stored in the cache:
// it passes through, its body intact (X-Cache: BYPASS, Cache-Status
// "detail=request-body"), on a kept-alive connection or not, with
// Content-Length or chunked, and the connection serves the next request.
//
// sample-service's /echo?echo_body=1 sends the request body back as it came,
// so the body the instance received is the response body.
#include <doctest/doctest.h>

#include <string>

#include "harness.hpp"

using namespace itest;

namespace {

constexpr Ms kAnswer = 5s;  // a hang shows as no answer within this
const std::string kEcho = "/echo?echo_body=1&cache_control=max-age=60";

std::string config(const TempDir& dir, const SampleService& svc) {
  return "workers: 1\ncaches:\n  main: {path: \"" + dir.file("cache") + "\"}\nupstreams:\n" +
         upstream_yaml("app", {&svc}, "retries: 0\nmax_fails: 0") +
         "routes:\n  - {prefix: /, upstream: app, cache: {zone: main, ttl: 60s}}\n";
}

std::string field(const RawResponse& r, std::string_view name) {
  return head_header(r.head, name).value_or("(none)");
}

std::string get_with_body(std::string_view framing, std::string_view connection = "") {
  std::string req = "GET " + kEcho + " HTTP/1.1\r\nHost: x\r\n";
  if (!connection.empty()) req += "Connection: " + std::string(connection) + "\r\n";
  if (framing == "chunked") return req + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
  return req + "Content-Length: 5\r\n\r\nhello";
}

const std::string kPlainGet = "GET " + kEcho + " HTTP/1.1\r\nHost: x\r\n\r\n";

// The request with a body passed through, then a plain GET for the same
// URL on the same connection: a MISS (nothing was stored), then a HIT.
void check_kept_alive(std::string_view framing) {
  TempDir dir;
  SampleService svc(dir);
  Gateway gw(dir, config(dir, svc));
  RawConnection conn(gw.port());
  REQUIRE(conn.send(get_with_body(framing)));
  auto first = parse_responses(conn.read_responses(1, kAnswer));
  REQUIRE(first.size() == 1);
  CHECK(first[0].status == 200);
  CHECK(first[0].body == "hello");  // the instance received the body whole
  CHECK(field(first[0], "X-Cache") == "BYPASS");
  CHECK(field(first[0], "Cache-Status") == "gateway; fwd=bypass; detail=request-body");

  REQUIRE(conn.send(kPlainGet));
  auto second = parse_responses(conn.read_responses(1, kAnswer));
  REQUIRE(second.size() == 1);
  CHECK(second[0].status == 200);
  CHECK(second[0].body.empty());
  CHECK(field(second[0], "X-Cache") == "MISS");

  REQUIRE(conn.send(kPlainGet));
  auto third = parse_responses(conn.read_responses(1, kAnswer));
  REQUIRE(third.size() == 1);
  CHECK(third[0].body.empty());
  CHECK(field(third[0], "X-Cache") == "HIT");
  CHECK(svc.stat("requests") == 2);
}

}  // namespace

TEST_CASE("a GET with Content-Length and a body on a cached route passes through, is not stored, and the connection goes on") {
  check_kept_alive("content-length");
}

TEST_CASE("a chunked GET on a cached route passes through, is not stored, and the connection goes on") {
  check_kept_alive("chunked");
}

TEST_CASE("a GET with a body on a cached route is answered on a connection that closes after it") {
  for (std::string framing : {"content-length", "chunked"}) {
    CAPTURE(framing);
    TempDir dir;
    SampleService svc(dir);
    Gateway gw(dir, config(dir, svc));
    RawConnection conn(gw.port());
    REQUIRE(conn.send(get_with_body(framing, "close")));
    auto rs = parse_responses(conn.read_until_close(kAnswer));
    REQUIRE(rs.size() == 1);
    CHECK(rs[0].status == 200);
    CHECK(rs[0].body == "hello");
    CHECK(field(rs[0], "X-Cache") == "BYPASS");
    // Nothing stored: a plain GET is a MISS.
    auto plain = http_get(url(gw.port(), kEcho));
    CHECK(plain.status == 200);
    CHECK(plain.header("X-Cache") == "MISS");
  }
}

TEST_CASE("a GET with a body never gets a stored response, even a fresh one for its URL") {
  TempDir dir;
  SampleService svc(dir);
  Gateway gw(dir, config(dir, svc));
  auto stored = http_get(url(gw.port(), kEcho));
  REQUIRE(stored.header("X-Cache") == "MISS");
  REQUIRE(http_get(url(gw.port(), kEcho)).header("X-Cache") == "HIT");
  RawConnection conn(gw.port());
  REQUIRE(conn.send(get_with_body("content-length")));
  auto rs = parse_responses(conn.read_responses(1, kAnswer));
  REQUIRE(rs.size() == 1);
  CHECK(rs[0].body == "hello");
  CHECK(field(rs[0], "X-Cache") == "BYPASS");
  // The stored entry is still the bodiless one.
  auto after = http_get(url(gw.port(), kEcho));
  CHECK(after.header("X-Cache") == "HIT");
  CHECK(after.body.empty());
}
