// The edge rules end to end (issue 11 item 5): a route's header rules on
// what goes upstream and on every response the client gets (proxied, a
// cache hit from disk, a 304, the gateway's own 502), the redirect of a
// plain listener to https with host and path kept while the TLS listener
// serves, and the client address behind trusted proxies (in the access log
// and $remote_addr) against an untrusted peer's claims.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "harness.hpp"
#include "harness_tls.hpp"

using namespace itest;

namespace {

constexpr const char* kUpstreamResponse =
    "HTTP/1.1 200 OK\r\nServer: upstream/1.0\r\nX-Powered-By: PHP/8\r\nCache-Control: max-age=60\r\n"
    "ETag: \"v1\"\r\nContent-Length: 2\r\n\r\nok";

// Rules as an edge sets them: HSTS and CORS added, the upstream's Server
// and X-Powered-By hidden, the client's Cookie not passed on, the client's
// address for the instance.
constexpr const char* kRules = R"(    headers:
      request:
        set: {X-Real-IP: $remote_addr, X-Scheme: $scheme}
        remove: Cookie
      response:
        add: {Strict-Transport-Security: "max-age=63072000", Access-Control-Allow-Origin: "*"}
        remove: [Server, X-Powered-By]
)";

void check_edited(const Response& r) {
  CHECK(r.header("Strict-Transport-Security") == "max-age=63072000");
  CHECK(r.header("Access-Control-Allow-Origin") == "*");
  CHECK(r.header_count("Strict-Transport-Security") == 1);
  CHECK_FALSE(r.header("Server"));
  CHECK_FALSE(r.header("X-Powered-By"));
}

// The access log line for `path` ("" if not there yet).
std::string access_line(const std::string& log, std::string_view path) {
  std::size_t at = log.find(std::string(" ") + std::string(path) + " HTTP/1.1\"");
  if (at == std::string::npos) return "";
  std::size_t begin = log.rfind('\n', at);
  begin = begin == std::string::npos ? 0 : begin + 1;
  return log.substr(begin, log.find('\n', at) - begin);
}

}  // namespace

TEST_CASE("edge: header rules apply to what goes upstream and to a proxied response, a disk cache hit and a 304") {
  TempDir dir;
  CaptureServer up(kUpstreamResponse);
  Gateway gw(dir, "workers: 1\naccess_log: off\ncaches:\n  main: {path: \"" + dir.file("cache") +
                      "\"}\nupstreams:\n  app: {instances: [\"" + up.address() + "\"], retries: 0}\nroutes:\n"
                      "  - prefix: /cached/\n    upstream: app\n    cache: main\n" + kRules +
                      "  - prefix: /plain/\n    upstream: app\n" + kRules);

  auto miss = http_get(url(gw.port(), "/cached/a"), {"Cookie: session=1", "X-Keep: 1"});
  REQUIRE(miss.status == 200);
  check_edited(miss);
  auto hit = http_get(url(gw.port(), "/cached/a"));
  REQUIRE(hit.status == 200);
  CHECK(hit.header("X-Cache") == "HIT");
  CHECK(hit.body == "ok");
  check_edited(hit);
  auto not_modified = http_get(url(gw.port(), "/cached/a"), {"If-None-Match: \"v1\""});
  REQUIRE(not_modified.status == 304);
  check_edited(not_modified);

  auto plain = http_get(url(gw.port(), "/plain/b"), {"Cookie: session=1"});
  REQUIRE(plain.status == 200);
  check_edited(plain);

  auto reqs = up.requests();
  REQUIRE(reqs.size() == 2);  // the miss and the plain one
  for (const auto& head : reqs) {
    INFO(head);
    CHECK_FALSE(head_header(head, "Cookie"));
    CHECK(head_header(head, "X-Real-IP") == "127.0.0.1");
    CHECK(head_header(head, "X-Scheme") == "http");
  }
  CHECK(head_header(reqs[0], "X-Keep") == "1");
}

TEST_CASE("edge: header rules apply to the gateway's own 502 and to a composed page") {
  TempDir dir;
  CaptureServer box("HTTP/1.1 200 OK\r\nServer: upstream/1.0\r\nContent-Length: 3\r\n\r\nbox");
  dir.write("page.html", "<p><!--# include virtual=\"/box\" --></p>");
  Gateway gw(dir, "workers: 1\naccess_log: off\nupstreams:\n  gone: {instances: [\"127.0.0.1:" +
                      std::to_string(free_port()) + "\"], retries: 0}\n  box: {instances: [\"" + box.address() +
                      "\"]}\nroutes:\n"
                      "  - prefix: /gone/\n    upstream: gone\n" + kRules +
                      "  - path: /page\n    page: page.html\n"
                      "    headers: {response: {set: {X-Frame-Options: DENY}, remove: Server}}\n"
                      "  - {path: /box, upstream: box}\n");
  auto failed = http_get(url(gw.port(), "/gone/x"));
  REQUIRE(failed.status == 502);
  check_edited(failed);  // and the gateway's own "Server: gateway" is hidden too

  auto page = http_get(url(gw.port(), "/page"));
  REQUIRE(page.status == 200);
  CHECK(page.body == "<p>box</p>");
  CHECK(page.header("X-Frame-Options") == "DENY");
  CHECK_FALSE(page.header("Server"));
}

TEST_CASE("edge: a plain listener redirects to https with host and path kept, the TLS listener serves") {
  TempDir dir;
  TestPki pki(dir);
  auto site = pki.issue("site", {"shop.example"});
  CaptureServer up;
  EdgeGateway gw(dir,
                 "listen:\n  - \"127.0.0.1:0\"\n  - address: \"127.0.0.1:0\"\n    tls: {certificates: [{cert: \"" +
                     site.cert + "\", key: \"" + site.key + "\"}]}\n",
                 "workers: 1\nupstreams:\n  app: {instances: [\"" + up.address() + "\"]}\nroutes:\n"
                 "  - {prefix: /, scheme: http, redirect: \"https://$host$request_uri\"}\n"
                 "  - {prefix: /.well-known/acme-challenge/, scheme: http, upstream: app}\n"
                 "  - prefix: /\n    upstream: app\n"
                 "    headers: {response: {add: {Strict-Transport-Security: \"max-age=63072000\"}}}\n");
  auto redirected = http_get(url(gw.port(0), "/shop/cart?item=42&q=a%20b"), {"Host: shop.example:8080"});
  CHECK(redirected.status == 301);
  CHECK(redirected.header("Location") == "https://shop.example/shop/cart?item=42&q=a%20b");
  CHECK(up.requests().empty());

  Request post;
  post.method = "POST";
  post.url = url(gw.port(0), "/form");
  post.headers = {"Host: shop.example"};
  post.body = "x=1";
  CHECK(Client().send(post).status == 301);

  // The ACME challenge still reaches the instance over plain HTTP.
  CHECK(http_get(url(gw.port(0), "/.well-known/acme-challenge/token"), {"Host: shop.example"}).status == 200);

  auto served = curl_https(dir, gw.port(1), "shop.example", "/shop/cart?item=42", pki.ca());
  CHECK(served.status == 200);
  CHECK(served.body == "ok");
  CHECK(served.header("Strict-Transport-Security") == "max-age=63072000");
  CHECK(up.requests().size() == 2);
}

TEST_CASE("edge: redirect statuses and a request without Host") {
  TempDir dir;
  Gateway gw(dir, "workers: 1\naccess_log: off\nroutes:\n"
                  "  - {prefix: /moved/, redirect: {to: \"https://$host/new$request_uri\", status: 308}}\n"
                  "  - {prefix: /fixed/, redirect: {to: \"https://www.example.com/\", status: 302}}\n");
  auto moved = http_get(url(gw.port(), "/moved/x"), {"Host: a.example"});
  CHECK(moved.status == 308);
  CHECK(moved.header("Location") == "https://a.example/new/moved/x");

  // HTTP/1.0 without Host: no host to redirect to, unless the target names one.
  RawConnection raw(gw.port());
  REQUIRE(raw.send("GET /moved/x HTTP/1.0\r\n\r\n"));
  auto answers = parse_responses(raw.read_until_close());
  REQUIRE(answers.size() == 1);
  CHECK(answers[0].status == 400);
  RawConnection fixed(gw.port());
  REQUIRE(fixed.send("GET /fixed/x HTTP/1.0\r\n\r\n"));
  auto fixed_answers = parse_responses(fixed.read_until_close());
  REQUIRE(fixed_answers.size() == 1);
  CHECK(fixed_answers[0].status == 302);
  CHECK(head_header(fixed_answers[0].head, "Location") == "https://www.example.com/");
}

TEST_CASE("edge: trusted_proxies: a trusted peer's X-Forwarded-For names the client, an untrusted one's does not") {
  for (bool trusted : {true, false}) {
    CAPTURE(trusted);
    TempDir dir;
    CaptureServer up;
    Gateway gw(dir, std::string(trusted ? "trusted_proxies: [127.0.0.0/8, \"::1\"]\n" : "") +
                        "workers: 1\nupstreams:\n  app: {instances: [\"" + up.address() + "\"]}\nroutes:\n"
                        "  - prefix: /\n    upstream: app\n    headers: {request: {set: {X-Real-IP: $remote_addr}}}\n");
    // A client 198.51.100.7 behind a proxy 10.0.0.1 (not trusted) behind
    // a load balancer on 127.0.0.1 (trusted, or not).
    auto r = http_get(url(gw.port(), "/who"), {"X-Forwarded-For: 192.0.2.99, 198.51.100.7, 127.0.0.5"});
    REQUIRE(r.status == 200);
    auto reqs = up.requests();
    REQUIRE(reqs.size() == 1);
    // The chain is forwarded as it is, with the peer appended, either way.
    CHECK(head_header(reqs[0], "X-Forwarded-For") == "192.0.2.99, 198.51.100.7, 127.0.0.5, 127.0.0.1");
    // 127.0.0.5 is trusted too (127.0.0.0/8): the walk goes on to 198.51.100.7.
    CHECK(head_header(reqs[0], "X-Real-IP") == (trusted ? "198.51.100.7" : "127.0.0.1"));
    REQUIRE(eventually([&] { return !access_line(gw.access_log(), "/who").empty(); }));
    CHECK(access_line(gw.access_log(), "/who").starts_with(trusted ? "198.51.100.7 - - " : "127.0.0.1 - - "));
  }
}
