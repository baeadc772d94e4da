// What bench/soak.py found: each case is one finding of the soak (one
// gateway in front of an instance killed and restarted every 20 s, a slow
// one and a flaky one, with clients that pipeline, read slowly, abort
// uploads and purge), reduced to the fewest processes and requests that
// show it.
//
// Each TEST_CASE starts its own sample-service instances and gateway on
// ephemeral loopback ports; the harness stops them on destruction.
#include <doctest/doctest.h>

#include <signal.h>

#include <memory>
#include <string>

#include "harness.hpp"

using namespace itest;

namespace {

std::string route_all() { return "routes:\n  - {prefix: /, upstream: app}\n"; }

std::string post(std::string_view target, std::size_t declared, std::string_view body, std::string_view agent) {
  return "POST " + std::string(target) + " HTTP/1.1\r\nHost: soak.test\r\nUser-Agent: " + std::string(agent) +
         "\r\nContent-Length: " + std::to_string(declared) + "\r\n\r\n" + std::string(body);
}

// The access-log line of the request that carried User-Agent `agent`.
std::string access_line(const std::string& log, std::string_view agent) {
  auto at = log.find("\"" + std::string(agent) + "\"");
  if (at == std::string::npos) return "";
  auto begin = log.rfind('\n', at);
  begin = begin == std::string::npos ? 0 : begin + 1;
  return log.substr(begin, log.find('\n', at) - begin);
}

}  // namespace

TEST_CASE("a 256 KiB POST on a kept-alive connection to an instance restarted since is sent again on a fresh connection, not answered 502") {
  TempDir dir;
  auto a = std::make_unique<SampleService>(dir, "a");
  const auto port = a->port();
  Gateway gw(dir, "workers: 1\nupstreams:\n" + upstream_yaml("app", {a.get()}) + route_all());
  // One exchange leaves the gateway's connection to the instance in its pool.
  REQUIRE(http_get(url(gw.port(), "/api/channels/1")).status == 200);
  a->process().signal(SIGKILL);  // the pooled connection's peer is gone; the kernel closes its end
  a.reset();
  SampleService back(dir, "back", {"--port", std::to_string(port)});

  // The body is sent in more than one write: the second one fails on the
  // dead connection (EPIPE) before any byte of a response was read.
  RawConnection c(gw.port());
  REQUIRE(c.send(post("/api/channels/1", 262144, std::string(262144, 'x'), "big-post")));
  auto rs = parse_responses(c.read_responses(1));
  REQUIRE(rs.size() == 1);
  CHECK(rs[0].status == 200);
  CHECK(head_header(rs[0].head, "X-Instance") == "back");
  CHECK(rs[0].body.find("\"body_bytes\":262144") != std::string::npos);
}

TEST_CASE("a POST refused at connect by one instance goes to another instance of the group") {
  TempDir dir;
  SampleService b(dir, "b");
  const std::string dead = "127.0.0.1:" + std::to_string(free_port());
  Gateway gw(dir, "workers: 1\nupstreams:\n  app:\n    instances: [\"" + dead + "\", \"" + b.address() + "\"]\n" +
                      route_all());
  // Round robin over two: one of the first two POSTs is sent to the
  // refused instance first. Nothing left the gateway then, so another
  // instance may take it (RFC 9110 9.2.2), as nginx and Envoy do.
  for (int i = 0; i < 4; ++i) {
    Request req;
    req.method = "POST";
    req.url = url(gw.port(), "/api/channels/" + std::to_string(i));
    req.body = "hello";
    auto r = Client().send(req);
    CAPTURE(i);
    CHECK(r.status == 200);
    CHECK(r.header("X-Instance") == "b");
  }
  CHECK(b.stat("requests") == 4);
}

TEST_CASE("an upload the client abandons midway is logged as 499, without an error line or a 500") {
  TempDir dir;
  SampleService a(dir, "a");
  Gateway gw(dir, "workers: 1\nupstreams:\n" + upstream_yaml("app", {&a}) + route_all());
  {
    RawConnection c(gw.port());
    REQUIRE(c.send(post("/api/channels/1", 32768, std::string(16384, 'x'), "abandons")));
  }  // closed with half of the declared body sent
  REQUIRE(eventually([&] { return !access_line(gw.access_log(), "abandons").empty(); }));
  auto line = access_line(gw.access_log(), "abandons");
  INFO(line);
  CHECK(line.find("HTTP/1.1\" 499 0 ") != std::string::npos);
  CHECK(gw.error_log().find("handler produced no response") == std::string::npos);
  CHECK(a.stat("requests") == 0);  // a body that small is checked whole before any instance sees it
}
