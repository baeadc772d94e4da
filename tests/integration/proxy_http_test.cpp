// The proxy path end to end, HTTP/1.x semantics: pipelining, HEAD, HTTP/1.0
// and 1.1 framing, Expect: 100-continue, obs-fold, and hop-by-hop headers
// both ways. Shared helpers are in proxy_fixture.hpp.
//
// Each TEST_CASE starts its own sample-service instances and gateway on
// ephemeral loopback ports; the harness stops them on destruction.
#include <doctest/doctest.h>

#include <string>

#include "harness.hpp"
#include "proxy_fixture.hpp"

using namespace itest;
using namespace itest::proxy_test;

namespace {

std::string id_field(int id) { return "\"id\":\"" + std::to_string(id) + "\""; }

}  // namespace

// ------------------------------------------------------------------ pipelining

TEST_CASE("pipelined requests are answered in order") {
  TempDir dir;
  SampleService a(dir, "a"), b(dir, "b");
  Gateway gw(dir, "workers: 1\nupstreams:\n" + upstream_yaml("app", {&a, &b}) + route_all());
  RawConnection conn(gw.port());
  std::string batch;
  for (int id = 1; id <= 5; ++id) {
    // The first is the slowest: answers must still come in request order.
    std::string q = id == 1 ? "?delay_ms=150" : id == 3 ? "?delay_ms=50" : "";
    batch += "GET " + channel_path(id) + q + " HTTP/1.1\r\nHost: x\r\n\r\n";
  }
  REQUIRE(conn.send(batch));
  auto responses = parse_responses(conn.read_responses(5));
  REQUIRE(responses.size() == 5);
  for (int id = 1; id <= 5; ++id) {
    CHECK(responses[id - 1].status == 200);
    CHECK(responses[id - 1].body.find(id_field(id)) != std::string::npos);
  }
  // The connection is still open for more.
  REQUIRE(conn.send("GET " + channel_path(6) + " HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto more = parse_responses(conn.read_responses(1));
  REQUIRE(more.size() == 1);
  CHECK(more[0].body.find(id_field(6)) != std::string::npos);
}

TEST_CASE("a pipelined mix of GETs and POSTs with bodies is answered in order") {
  TempDir dir;
  SampleService a(dir, "a");
  Gateway gw(dir, "workers: 1\nupstreams:\n" + upstream_yaml("app", {&a}) + route_all());
  RawConnection conn(gw.port());
  std::string batch =
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
      "GET /api/channels/2 HTTP/1.1\r\nHost: x\r\n\r\n"
      "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nworld\r\n3\r\n!!!\r\n0\r\n\r\n"
      "GET /api/chat/3 HTTP/1.1\r\nHost: x\r\n\r\n"
      "PUT /echo?echo_body=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello again";
  REQUIRE(conn.send(batch));
  auto responses = parse_responses(conn.read_responses(5));
  REQUIRE(responses.size() == 5);
  for (const auto& r : responses) CHECK(r.status == 200);
  CHECK(responses[0].body.find("\"method\":\"POST\"") != std::string::npos);
  CHECK(responses[0].body.find("\"body_bytes\":5") != std::string::npos);
  CHECK(responses[1].body.find(id_field(2)) != std::string::npos);
  CHECK(responses[2].body.find("\"body_bytes\":8") != std::string::npos);
  CHECK(responses[3].body.find("\"channel\":\"3\"") != std::string::npos);
  CHECK(responses[4].body == "hello again");
  CHECK(a.stat("requests") == 5);
}

// ------------------------------------------------------------------ HTTP semantics

TEST_CASE("HEAD returns the GET's headers and no body") {
  TempDir dir;
  SampleService a(dir, "a");
  Gateway gw(dir, "workers: 1\nupstreams:\n" + upstream_yaml("app", {&a}) + route_all());
  auto get = http_get(url(gw.port(), "/api/channels/9"));
  REQUIRE(get.status == 200);
  RawConnection conn(gw.port());
  // HEAD then GET on one connection: the GET's status line must follow the
  // HEAD's blank line directly.
  REQUIRE(conn.send("HEAD /api/channels/9 HTTP/1.1\r\nHost: x\r\n\r\nGET /api/channels/9 HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string bytes;
  REQUIRE(eventually([&] {
    bytes += conn.read_some(100ms);
    auto first = bytes.find("\r\n\r\n");
    return first != std::string::npos && parse_responses(bytes.substr(first + 4)).size() == 1;
  }));
  auto head_end = bytes.find("\r\n\r\n") + 4;
  std::string head = bytes.substr(0, head_end);
  CHECK(head.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(head_header(head, "Content-Length") == std::to_string(get.body.size()));
  CHECK(head_header(head, "Content-Type") == get.header("Content-Type"));
  auto rest = parse_responses(bytes.substr(head_end));
  REQUIRE(rest.size() == 1);
  CHECK(rest[0].status == 200);
  CHECK(rest[0].body == get.body.substr(0, rest[0].body.size()));
  CHECK(rest[0].body.size() == get.body.size());

  // HEAD of a chunked upstream answer: headers only, and the connection goes on.
  RawConnection c2(gw.port());
  REQUIRE(c2.send("HEAD /api/channels/9?chunked=1 HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string b2;
  REQUIRE(eventually([&] {
    b2 += c2.read_some(100ms);
    return count_of(b2, "HTTP/1.1 ") >= 2 && b2.size() > b2.rfind("\r\n\r\n") + 4;
  }, 5s));
  auto second = b2.find("HTTP/1.1 ", 1);
  CHECK(second == b2.find("\r\n\r\n") + 4);
}

TEST_CASE("HTTP/1.0 clients: close by default, keep-alive on request") {
  TempDir dir;
  SampleService a(dir, "a");
  Gateway gw(dir, "workers: 1\nupstreams:\n" + upstream_yaml("app", {&a}) + route_all());
  {
    RawConnection conn(gw.port());
    REQUIRE(conn.send("GET /api/channels/1 HTTP/1.0\r\nHost: x\r\n\r\n"));
    auto bytes = conn.read_until_close(5s);
    auto rs = parse_responses(bytes);
    REQUIRE(rs.size() == 1);
    CHECK(rs[0].head.rfind("HTTP/1.", 0) == 0);
    CHECK(rs[0].status == 200);
    CHECK(rs[0].body.find(id_field(1)) != std::string::npos);
    CHECK(head_header(rs[0].head, "Connection") == "close");
  }
  {
    RawConnection conn(gw.port());
    REQUIRE(conn.send("GET /api/channels/1 HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n"));
    auto rs = parse_responses(conn.read_responses(1));
    REQUIRE(rs.size() == 1);
    CHECK(rs[0].status == 200);
    CHECK(head_header(rs[0].head, "Connection").value_or("") == "keep-alive");
    CHECK_FALSE(conn.closed_by_peer(300ms));
    REQUIRE(conn.send("GET /api/channels/2 HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n"));
    auto more = parse_responses(conn.read_responses(1));
    REQUIRE(more.size() == 1);
    CHECK(more[0].body.find(id_field(2)) != std::string::npos);
  }
}

TEST_CASE("an HTTP/1.0 request without Host is forwarded with one") {
  TempDir dir;
  SampleService a(dir, "a");
  Gateway gw(dir, "workers: 1\nupstreams:\n" + upstream_yaml("app", {&a}) + route_all());
  RawConnection conn(gw.port());
  REQUIRE(conn.send("GET /api/channels/1 HTTP/1.0\r\n\r\n"));
  auto rs = parse_responses(conn.read_until_close(5s));
  REQUIRE(rs.size() == 1);
  CHECK(rs[0].status == 200);
  CHECK(rs[0].body.find(id_field(1)) != std::string::npos);
  CHECK(json_int(a.stats_json(), "bad_requests") == 0);
}

TEST_CASE("a chunked upstream answer reaches a 1.1 client chunked and a 1.0 client close-delimited") {
  TempDir dir;
  SampleService a(dir, "a");
  Gateway gw(dir, "workers: 1\nupstreams:\n" + upstream_yaml("app", {&a}) + route_all());
  const std::string path = "/api/channels/4?chunked=1&size=40000";
  auto plain = http_get(url(gw.port(), "/api/channels/4?size=40000"));
  REQUIRE(plain.status == 200);
  REQUIRE(plain.body.size() == 40000);
  {
    RawConnection conn(gw.port());
    REQUIRE(conn.send("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto rs = parse_responses(conn.read_responses(1));
    REQUIRE(rs.size() == 1);
    CHECK(head_header(rs[0].head, "Transfer-Encoding") == "chunked");
    CHECK_FALSE(head_header(rs[0].head, "Content-Length"));
    CHECK(rs[0].body == plain.body);
    CHECK_FALSE(conn.closed_by_peer(200ms));  // chunked: the connection can go on
  }
  {
    RawConnection conn(gw.port());
    REQUIRE(conn.send("GET " + path + " HTTP/1.0\r\nHost: x\r\n\r\n"));
    auto bytes = conn.read_until_close(5s);
    auto head_end = bytes.find("\r\n\r\n");
    REQUIRE(head_end != std::string::npos);
    auto head = bytes.substr(0, head_end + 4);
    CHECK_FALSE(head_header(head, "Transfer-Encoding"));
    CHECK(head_header(head, "Connection") == "close");
    CHECK(bytes.substr(head_end + 4) == plain.body);
  }
}

TEST_CASE("Expect: 100-continue gets 100 Continue, then the final response") {
  TempDir dir;
  SampleService a(dir, "a");
  Gateway gw(dir, "workers: 1\nupstreams:\n" + upstream_yaml("app", {&a}) + route_all());
  RawConnection conn(gw.port());
  REQUIRE(conn.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n"));
  std::string bytes;
  REQUIRE(eventually([&] {
    bytes += conn.read_some(100ms);
    return bytes.find("\r\n\r\n") != std::string::npos;
  }, 5s));
  CHECK(bytes.rfind("HTTP/1.1 100 Continue\r\n", 0) == 0);
  CHECK(a.stat("requests") == 0);  // the body is not here yet
  REQUIRE(conn.send("0123456789"));
  bytes += conn.read_responses(1);
  auto rs = parse_responses(bytes);
  REQUIRE(rs.size() == 2);
  CHECK(rs[0].status == 100);
  CHECK(rs[1].status == 200);
  CHECK(rs[1].body.find("\"body_bytes\":10") != std::string::npos);
  CHECK(a.stat("requests") == 1);
}

TEST_CASE("hop-by-hop request headers stay at the gateway, others pass, forwarding headers are added") {
  TempDir dir;
  CaptureServer up("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  Gateway gw(dir, "workers: 1\nupstreams:\n  app:\n    instances: [\"" + up.address() + "\"]\n" + route_all());
  RawConnection conn(gw.port());
  REQUIRE(conn.send("GET /x?q=1 HTTP/1.1\r\nHost: example.test\r\nConnection: keep-alive, X-Secret\r\n"
                    "X-Secret: 1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Connection: keep-alive\r\n"
                    "X-Custom: Some  Value\r\nX-Forwarded-For: 10.0.0.1\r\nVia: 1.0 upfront\r\n\r\n"));
  auto rs = parse_responses(conn.read_responses(1));
  REQUIRE(rs.size() == 1);
  CHECK(rs[0].status == 200);
  CHECK(rs[0].body == "ok");
  auto reqs = up.requests();
  REQUIRE(reqs.size() == 1);
  const auto& head = reqs[0];
  INFO(head);
  CHECK(head.rfind("GET /x?q=1 HTTP/1.1\r\n", 0) == 0);
  CHECK_FALSE(head_header(head, "X-Secret"));
  CHECK_FALSE(head_header(head, "Keep-Alive"));
  CHECK_FALSE(head_header(head, "TE"));
  CHECK_FALSE(head_header(head, "Proxy-Connection"));
  CHECK(head_header(head, "Connection").value_or("keep-alive") == "keep-alive");
  CHECK(head_header(head, "X-Custom") == "Some  Value");
  CHECK(head_header(head, "Host") == "example.test");
  CHECK(head_header(head, "X-Forwarded-For") == "10.0.0.1, 127.0.0.1");
  CHECK(head_header(head, "X-Forwarded-Host") == "example.test");
  CHECK(head_header(head, "X-Forwarded-Proto") == "http");
  CHECK(head_header(head, "Via") == "1.0 upfront, 1.1 gateway");
}

TEST_CASE("obs-fold in a request is refused with 400 or unfolded, never forwarded as is") {
  TempDir dir;
  CaptureServer up("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  Gateway gw(dir, "workers: 1\nupstreams:\n  app:\n    instances: [\"" + up.address() + "\"]\n" + route_all());
  RawConnection conn(gw.port());
  REQUIRE(conn.send("GET /x HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\nX-Tab: c\r\n\td\r\n\r\n"));
  auto rs = parse_responses(conn.read_responses(1));
  REQUIRE(rs.size() == 1);
  // RFC 9112 5.2: a server either rejects obs-fold with 400 or replaces it
  // with spaces before interpreting or forwarding the message.
  if (rs[0].status == 400) {
    CHECK(conn.closed_by_peer());
    CHECK(up.requests().empty());
  } else {
    CHECK(rs[0].status == 200);
    auto reqs = up.requests();
    REQUIRE(reqs.size() == 1);
    INFO(reqs[0]);
    CHECK(reqs[0].find("\r\n ") == std::string::npos);
    CHECK(reqs[0].find("\r\n\t") == std::string::npos);
    CHECK(head_header(reqs[0], "X-Folded").value_or("").find('b') != std::string::npos);
    CHECK(head_header(reqs[0], "X-Tab").value_or("").find('d') != std::string::npos);
  }
}

TEST_CASE("hop-by-hop response headers stay at the gateway, others reach the client untouched") {
  TempDir dir;
  SampleService a(dir, "a");
  Gateway gw(dir, "workers: 1\nupstreams:\n" + upstream_yaml("app", {&a}) + route_all());
  auto r = http_get(url(gw.port(), "/api/channels/1?header=X-Custom:%20Some%20%20Value&header=Connection:%20X-Up"
                                   "&header=X-Up:%201&header=Keep-Alive:%20timeout=9"));
  REQUIRE(r.status == 200);
  CHECK(r.header("X-Custom") == "Some  Value");
  CHECK_FALSE(r.header("X-Up"));
  CHECK_FALSE(r.header("Keep-Alive"));
  CHECK(r.header_count("Connection") <= 1);
  CHECK(r.header("Connection").value_or("keep-alive").find("X-Up") == std::string::npos);
  CHECK(r.header("Via").value_or("").find("1.1 gateway") != std::string::npos);

  // The same through a scripted upstream, byte-exact.
  CaptureServer up(
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: X-Up, keep-alive\r\nX-Up: 1\r\nKeep-Alive: timeout=9\r\n"
      "Proxy-Authenticate: Basic\r\nX-Other: a, b\r\nX-Other: c\r\n\r\nok");
  TempDir dir2;
  Gateway gw2(dir2, "workers: 1\nupstreams:\n  app:\n    instances: [\"" + up.address() + "\"]\n" + route_all());
  auto r2 = http_get(url(gw2.port(), "/y"));
  REQUIRE(r2.status == 200);
  CHECK(r2.body == "ok");
  CHECK_FALSE(r2.header("X-Up"));
  CHECK_FALSE(r2.header("Keep-Alive"));
  CHECK_FALSE(r2.header("Proxy-Authenticate"));
  CHECK(r2.header_count("X-Other") == 2);
  CHECK(r2.header("X-Other") == "a, b");
}
