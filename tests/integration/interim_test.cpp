// Interim (1xx) responses from an instance (issue 10): they were dropped.
// RFC 9110 15.2: a proxy forwards them to HTTP/1.1 clients before the final
// response, never to HTTP/1.0 clients; a cache never stores them. The
// instance's 100 Continue is not forwarded: the gateway answers Expect
// itself. On a cached route the client whose request fills the entry gets
// them; a hit (or a follower of the fill) gets the stored final response
// alone.
#include <doctest/doctest.h>

#include <string>

#include "harness.hpp"

using namespace itest;

namespace {

const std::string kHints = "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n";
const std::string kFinal = "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nContent-Length: 2\r\n\r\nok";

std::string config(const TempDir& dir, const CaptureServer& up, bool cached) {
  std::string routes = cached ? "  - {prefix: /, upstream: app, cache: {zone: main}}\n" : "  - {prefix: /, upstream: app}\n";
  return "workers: 1\naccess_log: off\ncaches:\n  main: {path: \"" + dir.file("cache") +
         "\"}\nupstreams:\n  app:\n    instances: [\"" + up.address() + "\"]\n    retries: 0\nroutes:\n" + routes;
}

std::string field(const RawResponse& r, std::string_view name) { return head_header(r.head, name).value_or("(none)"); }

}  // namespace

TEST_CASE("103 Early Hints from the instance reaches an HTTP/1.1 client with its Link, before the final response") {
  TempDir dir;
  CaptureServer up(kHints + kFinal);
  Gateway gw(dir, config(dir, up, false));
  RawConnection conn(gw.port());
  for (int round = 0; round < 2; ++round) {  // and again on the same connection
    CAPTURE(round);
    REQUIRE(conn.send("GET /page HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto rs = parse_responses(conn.read_responses(2));
    REQUIRE(rs.size() == 2);
    CHECK(rs[0].head.rfind("HTTP/1.1 103 Early Hints\r\n", 0) == 0);
    CHECK(field(rs[0], "Link") == "</s.css>; rel=preload");
    CHECK_FALSE(head_header(rs[0].head, "Content-Length"));
    CHECK(rs[1].status == 200);
    CHECK(rs[1].body == "ok");
    CHECK_FALSE(head_header(rs[1].head, "Link"));
  }
}

TEST_CASE("an HTTP/1.0 client gets the final response alone, without the instance's 103") {
  TempDir dir;
  CaptureServer up(kHints + kFinal);
  Gateway gw(dir, config(dir, up, false));
  RawConnection conn(gw.port());
  REQUIRE(conn.send("GET /page HTTP/1.0\r\nHost: x\r\n\r\n"));
  auto bytes = conn.read_until_close();
  auto rs = parse_responses(bytes);
  REQUIRE(rs.size() == 1);
  CHECK(rs[0].status == 200);
  CHECK(rs[0].body == "ok");
  CHECK(bytes.find(" 103 ") == std::string::npos);
  CHECK(up.requests().size() == 1);
}

TEST_CASE("a cached route forwards 103 to the client that fills the entry and stores only the final response") {
  TempDir dir;
  CaptureServer up(kHints + kFinal);
  Gateway gw(dir, config(dir, up, true));
  RawConnection conn(gw.port());
  REQUIRE(conn.send("GET /page HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto miss = parse_responses(conn.read_responses(2));
  REQUIRE(miss.size() == 2);
  CHECK(miss[0].status == 103);
  CHECK(field(miss[0], "Link") == "</s.css>; rel=preload");
  CHECK(miss[1].status == 200);
  CHECK(field(miss[1], "X-Cache") == "MISS");

  REQUIRE(conn.send("GET /page HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto bytes = conn.read_responses(1);
  auto hit = parse_responses(bytes);
  REQUIRE(hit.size() == 1);
  CHECK(hit[0].status == 200);
  CHECK(hit[0].body == "ok");
  CHECK(field(hit[0], "X-Cache") == "HIT");
  CHECK_FALSE(head_header(hit[0].head, "Link"));
  CHECK(bytes.find(" 103 ") == std::string::npos);
  CHECK(up.requests().size() == 1);
}

TEST_CASE("the instance's 100 Continue is not forwarded: the gateway answers Expect itself") {
  TempDir dir;
  CaptureServer up("HTTP/1.1 100 Continue\r\n\r\n" + kHints + kFinal);
  Gateway gw(dir, config(dir, up, false));
  RawConnection conn(gw.port());
  // Without Expect: the 103 alone comes ahead of the final response.
  REQUIRE(conn.send("GET /page HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto rs = parse_responses(conn.read_responses(2));
  REQUIRE(rs.size() == 2);
  CHECK(rs[0].status == 103);
  CHECK(rs[1].status == 200);
  // With Expect: the gateway's own 100 once, when it wants the body.
  REQUIRE(conn.send("POST /submit HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n"));
  auto go_ahead = parse_responses(conn.read_responses(1));
  REQUIRE(go_ahead.size() == 1);
  CHECK(go_ahead[0].status == 100);
  REQUIRE(conn.send("abc"));
  rs = parse_responses(conn.read_responses(2));
  REQUIRE(rs.size() == 2);
  CHECK(rs[0].status == 103);
  CHECK(rs[1].status == 200);
  CHECK(rs[1].body == "ok");
}
