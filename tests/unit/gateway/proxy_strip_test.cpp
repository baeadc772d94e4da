// Tests for the route's strip_request_headers in the request head sent
// upstream (gateway/proxy build_upstream_head): the defaults, names a route
// adds, and the forwarding fields a route strips to trust no earlier hop.
// Issue 10 item 5: X-Original-URL and X-Rewrite-URL reached the instances.
#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

#include "base/http/message.hpp"
#include "gateway/proxy.hpp"

using gateway::RouteConfig;
using gateway::http::Request;
using gateway::proxy::build_upstream_head;

namespace {

Request get(std::vector<std::pair<std::string, std::string>> fields) {
  Request r;
  r.method = "GET";
  r.target = "/api/channels/1";
  for (const auto& [name, value] : fields) r.headers.add(name, value);
  return r;
}

std::string upstream_head(const Request& req, const RouteConfig& route = {}) {
  std::string out;
  build_upstream_head(req, route, "10.0.0.7", out);
  return out;
}

}  // namespace

TEST_CASE("proxy: X-Original-URL, X-Rewrite-URL and Forwarded are not forwarded by default, whatever their case") {
  auto req = get({{"Host", "example.com"},
                  {"X-Original-URL", "/admin"},
                  {"x-rewrite-url", "/admin"},
                  {"Forwarded", "host=evil.example;proto=https"},
                  {"X-Kept", "1"}});
  CHECK(upstream_head(req) ==
        "GET /api/channels/1 HTTP/1.1\r\n"
        "Host: example.com\r\n"
        "X-Kept: 1\r\n"
        "X-Forwarded-For: 10.0.0.7\r\n"
        "X-Forwarded-Proto: http\r\n"
        "X-Forwarded-Host: example.com\r\n"
        "Via: 1.1 gateway\r\n"
        "\r\n");
}

TEST_CASE("proxy: a route's own strip list is applied, and an empty one forwards the defaults' fields") {
  auto req = get({{"Host", "h"}, {"X-Debug-User", "root"}, {"X-Original-URL", "/admin"}, {"Cookie", "a=b"}});
  RouteConfig more;
  more.strip_request_headers.push_back("x-debug-user");
  auto head = upstream_head(req, more);
  CHECK(head.find("X-Debug-User") == std::string::npos);
  CHECK(head.find("X-Original-URL") == std::string::npos);
  CHECK(head.find("Cookie: a=b\r\n") != std::string::npos);

  RouteConfig none;
  none.strip_request_headers.clear();
  head = upstream_head(req, none);
  CHECK(head.find("X-Debug-User: root\r\n") != std::string::npos);
  CHECK(head.find("X-Original-URL: /admin\r\n") != std::string::npos);
}

TEST_CASE("proxy: a stripped X-Forwarded-For or Via is not continued: the gateway's hop alone is named") {
  auto req = get({{"Host", "h"}, {"X-Forwarded-For", "6.6.6.6"}, {"Via", "1.0 fake"}});
  RouteConfig route;
  route.strip_request_headers = {"X-Forwarded-For", "Via"};
  auto head = upstream_head(req, route);
  CHECK(head.find("X-Forwarded-For: 10.0.0.7\r\n") != std::string::npos);
  CHECK(head.find("Via: 1.1 gateway\r\n") != std::string::npos);
  CHECK(head.find("6.6.6.6") == std::string::npos);
  CHECK(head.find("fake") == std::string::npos);
  // Not stripped: continued, as nginx's $proxy_add_x_forwarded_for.
  head = upstream_head(req);
  CHECK(head.find("X-Forwarded-For: 6.6.6.6, 10.0.0.7\r\n") != std::string::npos);
  CHECK(head.find("Via: 1.0 fake, 1.1 gateway\r\n") != std::string::npos);
}
