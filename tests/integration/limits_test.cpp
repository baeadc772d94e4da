// What a client cannot do: malformed and smuggling requests, oversized parts
// and slow heads. Each gets its exact 4xx, the connection is closed, and
// nothing of it reaches an instance (the instance's /stats stays at 0).
#include <doctest/doctest.h>

#include <chrono>

#include "harness.hpp"

using namespace itest;

namespace {

struct BadCase {
  const char* name;
  std::string bytes;
  int status;
};

// Sends `bytes` on a fresh connection; expects one response with `status`,
// then the connection closed by the gateway.
void expect_refused(std::uint16_t port, const BadCase& c) {
  INFO("case: " << std::string(c.name));
  RawConnection conn(port);
  REQUIRE(conn.send(c.bytes));
  auto bytes = conn.read_responses(1, 5s);
  auto rs = parse_responses(bytes);
  REQUIRE_MESSAGE(rs.size() >= 1, "got: " << bytes);
  CHECK(rs[0].status == c.status);
  CHECK(head_header(rs[0].head, "Connection") == "close");
  CHECK(conn.closed_by_peer(5s));
}

std::string route_all() { return "routes:\n  - {prefix: /, upstream: app}\n"; }

using Clock = std::chrono::steady_clock;

}  // namespace

TEST_CASE("malformed and smuggling requests get 400 and never reach an instance") {
  TempDir dir;
  SampleService a(dir, "a");
  Gateway gw(dir, "workers: 1\nupstreams:\n" + upstream_yaml("app", {&a}) + route_all());
  const std::vector<BadCase> cases = {
      {"Content-Length and Transfer-Encoding together",
       "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
      {"Transfer-Encoding then Content-Length",
       "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400},
      {"duplicate Content-Length, same value",
       "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 400},
      {"duplicate Content-Length, different values",
       "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400},
      {"Content-Length list", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\nhello", 400},
      {"negative Content-Length", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400},
      {"Content-Length with junk", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5x\r\n\r\nhello", 400},
      {"bare LF line endings", "GET /api/channels/1 HTTP/1.1\nHost: x\n\n", 400},
      {"bare CR inside the head", "GET /api/channels/1 HTTP/1.1\r\nHost: x\rX-A: b\r\n\r\n", 400},
      {"space before the colon", "GET /api/channels/1 HTTP/1.1\r\nHost : x\r\n\r\n", 400},
      {"space before the colon of Transfer-Encoding",
       "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\nContent-Length: 5\r\n\r\nhello", 400},
      {"missing Host on HTTP/1.1", "GET /api/channels/1 HTTP/1.1\r\nAccept: */*\r\n\r\n", 400},
      {"two Host headers", "GET /api/channels/1 HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400},
      {"NUL in a header value", "GET /api/channels/1 HTTP/1.1\r\nHost: x\r\nX-A: a" + std::string(1, '\0') + "b\r\n\r\n", 400},
      {"garbage request line", "HELLO\r\n\r\n", 400},
      {"relative request target", "GET api/channels/1 HTTP/1.1\r\nHost: x\r\n\r\n", 400},
      {"unsupported transfer coding",
       "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501},
      {"HTTP/2.0 request line", "GET /api/channels/1 HTTP/2.0\r\nHost: x\r\n\r\n", 505},
      // RFC 9112 3.2: a Host that is not uri-host[:port].
      {"Host with a path and a space", "GET /api/channels/1 HTTP/1.1\r\nHost: evil.example/x y\r\n\r\n", 400},
      {"Host with userinfo", "GET /api/channels/1 HTTP/1.1\r\nHost: user@evil.example\r\n\r\n", 400},
      {"Host with a bad port", "GET /api/channels/1 HTTP/1.1\r\nHost: example.com:80x\r\n\r\n", 400},
  };
  for (const auto& c : cases) expect_refused(gw.port(), c);

  // Nothing reached the instance, not even as a bad request.
  auto stats = a.stats_json();
  INFO(stats);
  CHECK(json_int(stats, "requests") == 0);
  CHECK(json_int(stats, "bad_requests") == 0);
  // Only the /stats request's own connection.
  CHECK(json_int(stats, "connections") == 1);
  // And the gateway still serves.
  CHECK(http_get(url(gw.port(), "/api/channels/1")).status == 200);
}

TEST_CASE("bad chunk framing in the first body bytes gets 400 and never reaches an instance") {
  TempDir dir;
  SampleService a(dir, "a");
  Gateway gw(dir, "workers: 1\nupstreams:\n" + upstream_yaml("app", {&a}) + route_all());
  const std::vector<BadCase> cases = {
      {"bad chunk size",
       "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", 400},
      {"chunk size overflow",
       "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff1\r\nhello\r\n0\r\n\r\n", 400},
      {"chunk data longer than its size",
       "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n", 400},
  };
  for (const auto& c : cases) expect_refused(gw.port(), c);
  auto stats = a.stats_json();
  INFO(stats);
  CHECK(json_int(stats, "requests") == 0);
  CHECK(json_int(stats, "bad_requests") == 0);
  CHECK(gw.error_log().find("handler produced no response") == std::string::npos);
}

TEST_CASE("a bad chunk after good ones gets 400, and the bad bytes never reach the instance") {
  TempDir dir;
  SampleService a(dir, "a");
  Gateway gw(dir, "workers: 1\nupstreams:\n" + upstream_yaml("app", {&a}) + route_all());
  RawConnection conn(gw.port());
  REQUIRE(conn.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"));
  // The rest of the body arrives later and is broken. (The gateway may
  // already have started the upstream request with the first chunk: it
  // streams bodies; then it must abandon that upstream connection.)
  REQUIRE(conn.send("zz\r\nworld\r\n0\r\n\r\n"));
  auto bytes = conn.read_until_close(5s);
  auto rs = parse_responses(bytes);
  INFO("got: " << bytes);
  REQUIRE(rs.size() == 1);
  CHECK(rs[0].status == 400);
  // The instance never saw the broken framing, and still serves.
  CHECK(json_int(a.stats_json(), "bad_requests") == 0);
  CHECK(http_get(url(gw.port(), "/api/channels/1")).status == 200);
  CHECK(gw.error_log().find("handler produced no response") == std::string::npos);
}

TEST_CASE("limits: long URI 414, large headers 431, many headers 431, large bodies 413, and at the limit passes") {
  TempDir dir;
  SampleService a(dir, "a");
  Gateway gw(dir, "workers: 1\nlimits: {uri_bytes: 1KiB, header_bytes: 2KiB, headers: 10, body_bytes: 1KiB}\n"
                  "upstreams:\n" + upstream_yaml("app", {&a}) + route_all());

  auto many_headers = [](int n) {
    std::string h;
    for (int i = 0; i < n; ++i) h += "X-H" + std::to_string(i) + ": v\r\n";
    return h;
  };
  // Header bytes are names plus values: "Host" "x" is 5.
  auto pad_header = [](std::size_t total) { return "X-Pad: " + std::string(total - 5 - 5, 'p') + "\r\n"; };
  const std::string target_1k = "/api/channels/1?pad=" + std::string(1024 - 20, 'u');
  REQUIRE(target_1k.size() == 1024);

  const std::vector<BadCase> cases = {
      {"URI over uri_bytes", "GET " + target_1k + "u HTTP/1.1\r\nHost: x\r\n\r\n", 414},
      {"URI far over uri_bytes", "GET /" + std::string(20000, 'u') + " HTTP/1.1\r\nHost: x\r\n\r\n", 414},
      {"header bytes over header_bytes", "GET /api/channels/1 HTTP/1.1\r\nHost: x\r\n" + pad_header(2049) + "\r\n", 431},
      {"one huge header", "GET /api/channels/1 HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(100000, 'b') + "\r\n\r\n",
       431},
      {"too many headers", "GET /api/channels/1 HTTP/1.1\r\nHost: x\r\n" + many_headers(10) + "\r\n", 431},
      {"Content-Length over body_bytes",
       "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1025\r\n\r\n" + std::string(1025, 'b'), 413},
      {"Content-Length far over body_bytes, body not sent",
       "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n", 413},
  };
  for (const auto& c : cases) expect_refused(gw.port(), c);
  CHECK(a.stat("requests") == 0);

  // Exactly at each limit: served.
  RawConnection ok(gw.port());
  std::string at_limit = "GET " + target_1k + " HTTP/1.1\r\nHost: x\r\n\r\n" +                         // 1 KiB target
                         "GET /api/channels/2 HTTP/1.1\r\nHost: x\r\n" + pad_header(2048) + "\r\n" +  // 2 KiB of headers
                         "GET /api/channels/3 HTTP/1.1\r\nHost: x\r\n" + many_headers(9) + "\r\n" +   // 10 fields
                         "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1024\r\n\r\n" + std::string(1024, 'b') +
                         "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n" +
                         std::string(1024, 'b') + "\r\n0\r\n\r\n";
  REQUIRE(ok.send(at_limit));
  auto rs = parse_responses(ok.read_responses(5));
  REQUIRE(rs.size() == 5);
  for (const auto& r : rs) CHECK(r.status == 200);
  CHECK(rs[3].body.find("\"body_bytes\":1024") != std::string::npos);
  CHECK(rs[4].body.find("\"body_bytes\":1024") != std::string::npos);
  CHECK(a.stat("requests") == 5);
}

TEST_CASE("a chunked body over body_bytes gets 413 and never reaches an instance") {
  TempDir dir;
  SampleService a(dir, "a");
  Gateway gw(dir, "workers: 1\nlimits: {body_bytes: 1KiB}\nupstreams:\n" + upstream_yaml("app", {&a}) + route_all());
  const std::vector<BadCase> cases = {
      {"chunked body over body_bytes",
       "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n401\r\n" + std::string(1025, 'b') +
           "\r\n0\r\n\r\n",
       413},
      {"chunked body over body_bytes in small chunks",
       "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + [] {
         std::string s;
         for (int i = 0; i < 5; ++i) s += "100\r\n" + std::string(256, 'c') + "\r\n";
         return s + "0\r\n\r\n";
       }(),
       413},
  };
  for (const auto& c : cases) expect_refused(gw.port(), c);
  CHECK(a.stat("requests") == 0);
}

TEST_CASE("a chunk declared larger than body_bytes gets 413 at once, before its bytes, and never reaches an instance") {
  TempDir dir;
  SampleService a(dir, "a");
  Gateway gw(dir, "workers: 1\nupstreams:\n" + upstream_yaml("app", {&a}) + route_all());  // default body_bytes
  for (const char* size : {"FFFFFFFFFFFFFFFF", "A00001"}) {  // the largest 64-bit size; 10 MiB + 1
    INFO("chunk size " << size);
    RawConnection conn(gw.port());
    // Only the size line: the client sends no chunk data and waits. The
    // answer must not wait for bytes that will never come.
    REQUIRE(conn.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + std::string(size) + "\r\n"));
    auto rs = parse_responses(conn.read_responses(1, 1500ms));
    REQUIRE(rs.size() == 1);
    CHECK(rs[0].status == 413);
    CHECK(head_header(rs[0].head, "Connection") == "close");
    CHECK(conn.closed_by_peer(2s));
  }
  CHECK(a.stat("requests") == 0);
  CHECK(gw.error_log().find("handler produced no response") == std::string::npos);
}

TEST_CASE("a request head not complete within client_header gets 408 and a close") {
  TempDir dir;
  SampleService a(dir, "a");
  Gateway gw(dir, "workers: 1\ntimeouts: {client_header: 300ms}\nupstreams:\n" + upstream_yaml("app", {&a}) +
                      route_all());
  {
    RawConnection conn(gw.port());
    auto start = Clock::now();
    REQUIRE(conn.send("GET /api/channels/1 HTTP/1.1\r\nHost: x\r\n"));
    auto bytes = conn.read_until_close(5s);
    auto took = std::chrono::duration_cast<Ms>(Clock::now() - start);
    auto rs = parse_responses(bytes);
    REQUIRE_MESSAGE(rs.size() == 1, "got: " << bytes);
    CHECK(rs[0].status == 408);
    CHECK(head_header(rs[0].head, "Connection") == "close");
    CHECK(took >= 250ms);
    CHECK(took < 2000ms);
  }
  {
    // Trickling a byte at a time does not extend the deadline.
    RawConnection conn(gw.port());
    auto start = Clock::now();
    std::string head = "GET /api/channels/1 HTTP/1.1\r\nHost: x\r\nX-Slow: " + std::string(200, 's');
    std::string bytes;
    for (std::size_t i = 0; i < head.size() && parse_responses(bytes).empty(); ++i) {
      conn.send(head.substr(i, 1));
      bytes += conn.read_some(30ms);
    }
    bytes += conn.read_until_close(3s);
    auto took = std::chrono::duration_cast<Ms>(Clock::now() - start);
    auto rs = parse_responses(bytes);
    REQUIRE_MESSAGE(rs.size() == 1, "got: " << bytes);
    CHECK(rs[0].status == 408);
    CHECK(took < 2000ms);
  }
  {
    // A connection that sends nothing is closed without a word.
    RawConnection conn(gw.port());
    auto start = Clock::now();
    CHECK(conn.closed_by_peer(3s));
    CHECK(std::chrono::duration_cast<Ms>(Clock::now() - start) >= 250ms);
  }
  CHECK(a.stat("requests") == 0);
}
