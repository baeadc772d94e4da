// Tests for the pure parts of gateway/proxy: the request head sent upstream
// (hop-by-hop fields out, X-Forwarded-*, Via, framing re-added, strip_prefix)
// and the response head rewritten for the client. Heads are compared as
// exact bytes.
#include "gateway/proxy.hpp"

#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

#include "base/http/message.hpp"

using gateway::RouteConfig;
using gateway::http::HeaderMap;
using gateway::http::Request;
using gateway::http::Response;
using gateway::proxy::build_upstream_head;
using gateway::proxy::rewrite_response_head;

namespace {

Request request(std::string method, std::string target, std::vector<std::pair<std::string, std::string>> fields) {
  Request r;
  r.method = std::move(method);
  r.target = std::move(target);
  for (const auto& [name, value] : fields) r.headers.add(name, value);
  return r;
}

std::string upstream_head(const Request& req, const RouteConfig& route = {}, std::string_view peer = "10.0.0.7") {
  std::string out;
  build_upstream_head(req, route, peer, out);
  return out;
}

RouteConfig stripping(std::string prefix) {
  RouteConfig r;
  r.prefix = std::move(prefix);
  r.strip_prefix = true;
  return r;
}

std::string dump(const HeaderMap& h) {
  std::string s;
  h.for_each([&](const HeaderMap::Field& f) { s.append(f.name).append(": ").append(f.value).append("\n"); });
  return s;
}

}  // namespace

TEST_SUITE("proxy: upstream request head") {
  TEST_CASE("a plain GET gets X-Forwarded-For, -Proto, -Host and Via after its own fields") {
    auto req = request("GET", "/channels/42?x=1", {{"Host", "example.com"}, {"Accept", "*/*"}});
    CHECK(upstream_head(req) ==
          "GET /channels/42?x=1 HTTP/1.1\r\n"
          "Host: example.com\r\n"
          "Accept: */*\r\n"
          "X-Forwarded-For: 10.0.0.7\r\n"
          "X-Forwarded-Proto: http\r\n"
          "X-Forwarded-Host: example.com\r\n"
          "Via: 1.1 gateway\r\n"
          "\r\n");
  }

  TEST_CASE("hop-by-hop fields, those named in Connection, and Expect are not forwarded") {
    auto req = request("GET", "/", {
                                       {"Host", "h"},
                                       {"Connection", "keep-alive, X-Secret"},
                                       {"Keep-Alive", "timeout=5"},
                                       {"TE", "trailers"},
                                       {"Trailer", "X-Checksum"},
                                       {"Upgrade", "websocket"},
                                       {"Proxy-Connection", "keep-alive"},
                                       {"x-secret", "hide me"},
                                       {"Expect", "100-continue"},
                                       {"connection", "X-Also"},
                                       {"X-Also", "gone"},
                                       {"X-Kept", "yes"},
                                   });
    CHECK(upstream_head(req) ==
          "GET / HTTP/1.1\r\n"
          "Host: h\r\n"
          "X-Kept: yes\r\n"
          "X-Forwarded-For: 10.0.0.7\r\n"
          "X-Forwarded-Proto: http\r\n"
          "X-Forwarded-Host: h\r\n"
          "Via: 1.1 gateway\r\n"
          "\r\n");
  }

  TEST_CASE("unknown fields pass through with their name case and value bytes untouched") {
    auto req = request("GET", "/", {{"Host", "h"},
                                    {"x-MiXeD-case", "a,  b;q=0.5 \"quoted\"\tend"},
                                    {"X-Empty", ""},
                                    {"Cookie", "a=1; b=2"},
                                    {"Cookie", "c=3"}});
    CHECK(upstream_head(req) ==
          "GET / HTTP/1.1\r\n"
          "Host: h\r\n"
          "x-MiXeD-case: a,  b;q=0.5 \"quoted\"\tend\r\n"
          "X-Empty: \r\n"
          "Cookie: a=1; b=2\r\n"
          "Cookie: c=3\r\n"
          "X-Forwarded-For: 10.0.0.7\r\n"
          "X-Forwarded-Proto: http\r\n"
          "X-Forwarded-Host: h\r\n"
          "Via: 1.1 gateway\r\n"
          "\r\n");
  }

  TEST_CASE("X-Forwarded-For and Via extend what earlier proxies said") {
    auto req = request("GET", "/", {{"Host", "h"},
                                    {"X-Forwarded-For", "203.0.113.1"},
                                    {"Via", "1.0 edge"},
                                    {"x-forwarded-for", "198.51.100.2, 192.0.2.3"},
                                    {"X-Forwarded-Proto", "https"},
                                    {"X-Forwarded-Host", "spoofed.example"}});
    CHECK(upstream_head(req, {}, "10.1.2.3") ==
          "GET / HTTP/1.1\r\n"
          "Host: h\r\n"
          "X-Forwarded-For: 203.0.113.1, 198.51.100.2, 192.0.2.3, 10.1.2.3\r\n"
          "X-Forwarded-Proto: http\r\n"
          "X-Forwarded-Host: h\r\n"
          "Via: 1.0 edge, 1.1 gateway\r\n"
          "\r\n");
  }

  TEST_CASE("an HTTP/1.0 request without Host gets the upstream's name as Host, and no X-Forwarded-Host") {
    auto req = request("GET", "/", {});
    req.version_minor = 0;
    RouteConfig route;
    route.upstream = "app";
    CHECK(upstream_head(req, route, "::1") ==
          "GET / HTTP/1.1\r\n"
          "Host: app\r\n"
          "X-Forwarded-For: ::1\r\n"
          "X-Forwarded-Proto: http\r\n"
          "Via: 1.1 gateway\r\n"
          "\r\n");
  }

  TEST_CASE("Content-Length is re-added from the request's framing, once, at the end") {
    auto req = request("POST", "/submit", {{"Host", "h"}, {"Content-Length", "5"}, {"Content-Type", "text/plain"}});
    req.content_length = 5;
    CHECK(upstream_head(req) ==
          "POST /submit HTTP/1.1\r\n"
          "Host: h\r\n"
          "Content-Type: text/plain\r\n"
          "X-Forwarded-For: 10.0.0.7\r\n"
          "X-Forwarded-Proto: http\r\n"
          "X-Forwarded-Host: h\r\n"
          "Via: 1.1 gateway\r\n"
          "Content-Length: 5\r\n"
          "\r\n");
  }

  TEST_CASE("Content-Length: 0 is kept") {
    auto req = request("POST", "/", {{"Host", "h"}, {"Content-Length", "0"}});
    req.content_length = 0;
    auto head = upstream_head(req);
    CHECK(head.find("\r\nContent-Length: 0\r\n\r\n") != std::string::npos);
  }

  TEST_CASE("a chunked request goes upstream as chunked, whatever else Transfer-Encoding said") {
    auto req = request("POST", "/up", {{"Host", "h"}, {"Transfer-Encoding", "chunked"}});
    req.chunked = true;
    CHECK(upstream_head(req) ==
          "POST /up HTTP/1.1\r\n"
          "Host: h\r\n"
          "X-Forwarded-For: 10.0.0.7\r\n"
          "X-Forwarded-Proto: http\r\n"
          "X-Forwarded-Host: h\r\n"
          "Via: 1.1 gateway\r\n"
          "Transfer-Encoding: chunked\r\n"
          "\r\n");
  }

  TEST_CASE("a request without a body gets no framing fields") {
    auto req = request("GET", "/", {{"Host", "h"}});
    auto head = upstream_head(req);
    CHECK(head.find("Content-Length") == std::string::npos);
    CHECK(head.find("Transfer-Encoding") == std::string::npos);
  }

  TEST_CASE("strip_prefix removes the route's prefix and keeps the target starting with /") {
    struct Case {
      const char* prefix;
      const char* target;
      const char* sent;
    };
    const Case cases[] = {
        {"/api/", "/api/x?y", "/x?y"},
        {"/api/", "/api/", "/"},
        {"/api/", "/api/a/b/c", "/a/b/c"},
        {"/api", "/api", "/"},
        {"/api", "/api/x", "/x"},
        {"/api", "/api?q=1", "/?q=1"},
        {"/chat/", "/chat/api/chat/1", "/api/chat/1"},
        {"/api/", "/other/x", "/other/x"},  // not under the prefix: unchanged
    };
    for (const auto& c : cases) {
      INFO((std::string(c.prefix) + " " + c.target));
      auto req = request("GET", c.target, {{"Host", "h"}});
      auto head = upstream_head(req, stripping(c.prefix));
      CHECK(head.substr(0, head.find("\r\n")) == std::string("GET ") + c.sent + " HTTP/1.1");
    }
  }

  TEST_CASE("without strip_prefix the target goes upstream as received") {
    RouteConfig route;
    route.prefix = "/api/";
    auto req = request("DELETE", "/api/x?y=%2F", {{"Host", "h"}});
    auto head = upstream_head(req, route);
    CHECK(head.substr(0, head.find("\r\n")) == "DELETE /api/x?y=%2F HTTP/1.1");
  }

  TEST_CASE("the head is appended to what the buffer already holds") {
    auto req = request("GET", "/", {{"Host", "h"}});
    std::string out = "earlier";
    build_upstream_head(req, {}, "1.2.3.4", out);
    CHECK(out.rfind("earlierGET / HTTP/1.1\r\n", 0) == 0);
  }
}

TEST_SUITE("proxy: response head") {
  TEST_CASE("hop-by-hop fields and those named in Connection are removed, Via is added") {
    Response resp;
    resp.status = 200;
    resp.headers.add("Content-Type", "application/json");
    resp.headers.add("Connection", "keep-alive, X-Internal");
    resp.headers.add("Keep-Alive", "timeout=30");
    resp.headers.add("Transfer-Encoding", "chunked");
    resp.headers.add("Trailer", "X-Sum");
    resp.headers.add("Upgrade", "h2c");
    resp.headers.add("Proxy-Connection", "close");
    resp.headers.add("TE", "trailers");
    resp.headers.add("x-internal", "secret");
    resp.headers.add("Cache-Control", "max-age=60");
    resp.headers.add("x-Odd", " spaced  value ");
    rewrite_response_head(resp);
    CHECK(dump(resp.headers) ==
          "Content-Type: application/json\n"
          "Cache-Control: max-age=60\n"
          "x-Odd:  spaced  value \n"
          "Via: 1.1 gateway\n");
  }

  TEST_CASE("Via from the upstream is extended") {
    Response resp;
    resp.headers.add("Via", "1.1 origin");
    resp.headers.add("Content-Length", "2");
    resp.headers.add("via", "1.0 cache");
    rewrite_response_head(resp);
    CHECK(dump(resp.headers) ==
          "Content-Length: 2\n"
          "Via: 1.1 origin, 1.0 cache, 1.1 gateway\n");
  }
}
