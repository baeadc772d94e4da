// HTTP/2 to clients, end to end: curl --http2 over TLS (ALPN h2) and
// --http2-prior-knowledge on an h2c listener against a real gateway and
// sample-service, compared with --http1.1 on the same routes (proxied,
// cached, a composed page, a POST body); many streams on one connection
// with h2load; the access log and metrics. The abuse cases (rapid reset,
// CONTINUATION floods, oversized header lists, idle and drain) are in
// http2_abuse_test.cpp.
#include <doctest/doctest.h>

#include "harness.hpp"
#include "harness_tls.hpp"

using namespace itest;

namespace {

// A TLS listener (HTTP/2 by default) and a plain one with h2c.
std::string listen_yaml(const TestPki::Files& cert, const std::string& tls_more = "") {
  return "listen:\n  - address: \"127.0.0.1:0\"\n" + tls_more +
         "    tls:\n      certificates:\n        - {cert: \"" + cert.cert + "\", key: \"" + cert.key +
         "\"}\n  - {address: \"127.0.0.1:0\", h2c: true}\n";
}

std::string app_yaml(const TempDir& dir, const SampleService& svc) {
  dir.write("page.html", "<html><!--# include virtual=\"/fragments/channel/{id}\" --></html>\n");
  return "workers: 2\ncaches:\n  main: {path: \"" + dir.file("cache") + "\", max_size: 64MiB}\n" +
         "upstreams:\n  app:\n    instances: [\"" + svc.address() + "\"]\n" +
         "routes:\n"
         "  - {path: \"/p/{id}\", page: page.html}\n"
         "  - {prefix: /cached/, upstream: app, strip_prefix: true, cache: {zone: main, ttl: 1h}}\n"
         "  - {prefix: /fragments/, upstream: app, cache: {zone: main, ttl: 1h}}\n"
         "  - {prefix: /, upstream: app}\n";
}

struct Protocols {
  const TempDir& dir;
  EdgeGateway& gw;
  const std::string& ca;
  Response h1(const std::string& path, std::vector<std::string> extra = {}) const {
    return curl_https(dir, gw.port(0), "site.test", path, ca, extra);
  }
  Response h2(const std::string& path, std::vector<std::string> extra = {}) const {
    extra.insert(extra.begin(), "--http2");
    return curl_https(dir, gw.port(0), "site.test", path, ca, extra);
  }
  Response h2c(const std::string& path, std::vector<std::string> extra = {}) const {
    extra.insert(extra.begin(), "--http2-prior-knowledge");
    return curl(dir, extra, "http://127.0.0.1:" + std::to_string(gw.port(1)) + path);
  }
};

// A gateway with both listeners and the app's routes, its certificate
// made for site.test.
struct Site {
  TempDir dir;
  TestPki pki{dir};
  TestPki::Files cert = pki.issue("site", {"site.test"});
  SampleService svc{dir};
  EdgeGateway gw{dir, listen_yaml(cert), app_yaml(dir, svc)};
};

std::size_t count(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("http2: over TLS (ALPN h2) and h2c, proxied, cached and page routes answer as over HTTP/1.1") {
  Site site;
  auto& dir = site.dir;
  auto& gw = site.gw;
  Protocols p{dir, gw, site.pki.ca()};

  SUBCASE("proxied") {
    for (const char* path : {"/api/channels/4", "/api/recommended/2?size=70000", "/nothing/here?status=404"}) {
      CAPTURE(std::string(path));
      auto a = p.h1(path), b = p.h2(path), c = p.h2c(path);
      INFO(b.body);
      REQUIRE(a.status != 0);
      CHECK(b.status == a.status);
      CHECK(c.status == a.status);
      CHECK(b.body == a.body);
      CHECK(c.body == a.body);
      CHECK(b.header("Content-Type") == a.header("Content-Type"));
      CHECK_FALSE(b.header("Connection").has_value());
      CHECK_FALSE(b.header("Transfer-Encoding").has_value());
      // HTTP/1.1 on the h2c listener: no preface, so HTTP/1.1 as before.
      auto plain = curl(dir, {"--http1.1"}, "http://127.0.0.1:" + std::to_string(gw.port(1)) + path);
      CHECK(plain.status == a.status);
      CHECK(plain.body == a.body);
    }
  }
  SUBCASE("cached: MISS, then HIT for every protocol") {
    const std::string path = "/cached/api/channels/9?cache_control=max-age=60&size=5000";
    auto first = p.h2(path);
    CHECK(first.status == 200);
    CHECK(first.header("X-Cache") == "MISS");
    CHECK(first.body.size() == 5000);
    REQUIRE(eventually([&] { return p.h1(path).header("X-Cache") == "HIT"; }));
    // The cache key holds the host: the h2c request names the same one.
    auto a = p.h1(path), b = p.h2(path), c = p.h2c(path, {"-H", "Host: site.test:" + std::to_string(gw.port(0))});
    CHECK(b.header("X-Cache") == "HIT");
    CHECK(c.header("X-Cache") == "HIT");
    CHECK(b.body == a.body);
    CHECK(c.body == a.body);
    CHECK(b.header("Content-Length") == "5000");
    CHECK(b.header("Age").has_value());
    // HEAD from the entry: the length, no body.
    auto head = p.h2(path, {"-I"});
    CHECK(head.status == 200);
    CHECK(head.header("Content-Length") == "5000");
  }
  SUBCASE("a composed page") {
    auto a = p.h1("/p/3"), b = p.h2("/p/3"), c = p.h2c("/p/3");
    REQUIRE(a.status == 200);
    CHECK(b.status == 200);
    CHECK(c.status == 200);
    CHECK(b.body == a.body);
    CHECK(c.body == a.body);
    CHECK(b.body.find("<html>") == 0);
    // The page's Server-Timing trailer comes as trailer fields.
    CHECK(a.header("Server-Timing").has_value());
    CHECK(b.header("Server-Timing").has_value());
    CHECK(c.header("Server-Timing").has_value());
  }
  SUBCASE("a POST with a body, and a larger one than the stream window") {
    for (std::size_t size : {std::size_t{11}, std::size_t{300'000}}) {
      CAPTURE(size);
      std::string body(size, 'x');
      for (std::size_t i = 0; i < size; i += 7) body[i] = static_cast<char>('a' + i % 26);
      dir.write("post.bin", body);
      std::vector<std::string> args = {"--data-binary", "@" + dir.file("post.bin"), "-H",
                                       "Content-Type: application/octet-stream"};
      auto b = p.h2("/echo/x?echo_body=1", args), c = p.h2c("/echo/x?echo_body=1", args);
      CHECK(b.status == 200);
      CHECK(c.status == 200);
      CHECK(b.body == body);
      CHECK(c.body == body);
    }
    // Expect: 100-continue: the gateway says go ahead (curl would wait 30 s).
    auto expecting = p.h2c("/echo/x?echo_body=1", {"--data-binary", "hello", "-H", "Expect: 100-continue",
                                                   "--expect100-timeout", "30", "--max-time", "10"});
    CHECK(expecting.status == 200);
    CHECK(expecting.body == "hello");
  }
  // The access log says HTTP/2.0 where HTTP/1.1 goes, and /metrics counts
  // the requests and the connections.
  REQUIRE(eventually([&] { return gw.access_log().find("HTTP/2.0\" 200") != std::string::npos; }));
  auto m = gw.metrics();
  CHECK(metric(m, "gateway_http2_connections_total").value_or(0) >= 2);
  CHECK(metric(m, "gateway_http2_streams_total").value_or(0) >= 2);
}

TEST_CASE("http2: a listener with http2: false offers only http/1.1, and a plain one without h2c ignores the preface") {
  TempDir dir;
  TestPki pki(dir);
  auto cert = pki.issue("site", {"site.test"});
  SampleService svc(dir);
  EdgeGateway gw(dir,
                 "listen:\n  - address: \"127.0.0.1:0\"\n    http2: false\n    tls:\n      certificates:\n"
                 "        - {cert: \"" + cert.cert + "\", key: \"" + cert.key + "\"}\n  - \"127.0.0.1:0\"\n",
                 "workers: 1\nupstreams:\n  app:\n    instances: [\"" + svc.address() +
                     "\"]\nroutes:\n  - {prefix: /, upstream: app}\n");
  auto r = s_client(dir, gw.port(0), "site.test", {"-alpn", "h2,http/1.1"},
                    "GET /api/channels/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  INFO(r.output);
  CHECK(r.output.find("ALPN protocol: http/1.1") != std::string::npos);
  // curl --http2 falls back to HTTP/1.1.
  auto fallback = curl_https(dir, gw.port(0), "site.test", "/api/channels/1", pki.ca(), {"--http2"});
  CHECK(fallback.status == 200);
  // Prior knowledge on a plain listener without h2c: the preface is no
  // HTTP/1.1 request.
  auto refused = curl(dir, {"--http2-prior-knowledge"}, "http://127.0.0.1:" + std::to_string(gw.port(1)) + "/");
  CHECK(refused.status != 200);
  CHECK(count(gw.access_log(), "HTTP/2.0") == 0);
}

TEST_CASE("http2: 200 requests as 50 concurrent streams on one connection all succeed (h2load)") {
  Site site;
  auto& dir = site.dir;
  auto& gw = site.gw;
  for (std::uint16_t port : {gw.port(0), gw.port(1)}) {
    const std::string scheme = port == gw.port(0) ? "https" : "http";
    CAPTURE(scheme);
    auto r = run_command(dir, {"h2load", "-n", "200", "-c", "1", "-m", "50",
                               scheme + "://127.0.0.1:" + std::to_string(port) + "/api/channels/3"},
                         {}, 60s);
    INFO(r.output);
    CHECK(r.exit_code == 0);
    CHECK(r.output.find("200 succeeded, 0 failed, 0 errored") != std::string::npos);
    CHECK(r.output.find("status codes: 200 2xx") != std::string::npos);
  }
}

TEST_CASE("http2: 103 Early Hints from the instance reaches an HTTP/2 client before the final response") {
  TempDir dir;
  CaptureServer up("HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"
                   "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  EdgeGateway gw(dir, "listen:\n  - {address: \"127.0.0.1:0\", h2c: true}\n",
                 "workers: 1\nupstreams:\n  app:\n    instances: [\"" + up.address() +
                     "\"]\n    retries: 0\nroutes:\n  - {prefix: /, upstream: app}\n");
  auto r = run_command(dir, {"curl", "-sS", "--http2-prior-knowledge", "-D", "-", "-o", dir.file("body"),
                             "http://127.0.0.1:" + std::to_string(gw.port()) + "/page"});
  INFO(r.output);
  CHECK(r.exit_code == 0);
  auto hints = r.output.find("HTTP/2 103");
  auto final_head = r.output.find("HTTP/2 200");
  REQUIRE(hints != std::string::npos);
  REQUIRE(final_head != std::string::npos);
  CHECK(hints < final_head);
  CHECK(r.output.find("link: </s.css>; rel=preload") < final_head);
  CHECK(read_file(dir.file("body")) == "ok");
}
