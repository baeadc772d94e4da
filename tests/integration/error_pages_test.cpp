// Error pages end to end (issue 15 item 3): the gateway's own errors get
// the configured page with their status and text/html (a dead upstream's
// 502, no route's 404, a static route's 404), a route's own pages replace
// the top level's, `intercept: true` replaces an instance's 500 and drops
// its body while a route without it relays the instance's body, and
// `--check` names a missing page at file:line:column. The gateway's refusals
// with fields of their own (401, 405, 429) get pages too, and keep the field.
#include <doctest/doctest.h>

#include <string>

#include "harness.hpp"

using namespace itest;

namespace {

void write_pages(const TempDir& dir) {
  dir.write("pages/404.html", "<h1>nothing here</h1>\n");
  dir.write("pages/502.html", "<h1>upstream down</h1>\n");
  dir.write("pages/oops.html", "<h1>oops</h1>\n");
  dir.write("pages/route.html", "<h1>route's own</h1>\n");
  dir.write("www/index.html", "<p>home</p>\n");
}

std::string config(const TempDir& dir, const SampleService& svc, std::uint16_t dead) {
  return "workers: 1\naccess_log: off\n"
         "error_pages: {404: \"" + dir.file("pages/404.html") + "\", 502: \"" + dir.file("pages/502.html") +
         "\", 5xx: \"" + dir.file("pages/oops.html") + "\"}\n"
         "upstreams:\n"
         "  svc: {instances: [\"" + svc.address() + "\"], retries: 0}\n"
         "  dead: {instances: [\"127.0.0.1:" + std::to_string(dead) + "\"], retries: 0}\n"
         "routes:\n"
         "  - prefix: /dead/\n    upstream: dead\n"
         "  - prefix: /own/\n    upstream: dead\n    error_pages: {5xx: \"" + dir.file("pages/route.html") + "\"}\n"
         "  - prefix: /intercepted/\n    upstream: svc\n    strip_prefix: true\n    error_pages: {intercept: true}\n"
         "  - prefix: /relayed/\n    upstream: svc\n    strip_prefix: true\n"
         "  - prefix: /www/\n    static: {root: \"" + dir.file("www") + "\"}\n";
}

}  // namespace

TEST_CASE("error pages: the gateway's own errors get the page with their status, exact before class") {
  TempDir dir;
  write_pages(dir);
  SampleService svc(dir);
  Gateway gw(dir, config(dir, svc, free_port()));

  auto dead = http_get(url(gw.port(), "/dead/x"));
  CHECK(dead.status == 502);
  CHECK(dead.body == "<h1>upstream down</h1>\n");
  CHECK(dead.header("Content-Type") == "text/html; charset=utf-8");

  auto no_route = http_get(url(gw.port(), "/nowhere"));
  CHECK(no_route.status == 404);
  CHECK(no_route.body == "<h1>nothing here</h1>\n");
  CHECK(no_route.header("Content-Type") == "text/html; charset=utf-8");

  auto missing = http_get(url(gw.port(), "/www/missing.html"));
  CHECK(missing.status == 404);
  CHECK(missing.body == "<h1>nothing here</h1>\n");

  auto own = http_get(url(gw.port(), "/own/x"));  // the route's 5xx replaces the top level's
  CHECK(own.status == 502);
  CHECK(own.body == "<h1>route's own</h1>\n");
}

TEST_CASE("error pages: a 401, 405 and 429 get their page and keep WWW-Authenticate, Allow and Retry-After") {
  TempDir dir;
  write_pages(dir);
  dir.write("pages/4xx.html", "<h1>not for you</h1>\n");
  // ann:s3cret (openssl passwd -6 -salt pagesalt s3cret)
  dir.write("users", "ann:$6$pagesalt$MqSzBwKFDwteVqL5LQ6unK.Xn9UrYYBzvACDSZOqlt6Oo4WTD3KQXSLPWkBIi/"
                     "zMVQE0XQupD.HPrDRyCRADq.\n");
  SampleService svc(dir);
  Gateway gw(dir, "workers: 1\naccess_log: off\n"
                  "error_pages: {4xx: \"" + dir.file("pages/4xx.html") + "\"}\n"
                  "upstreams:\n  svc: {instances: [\"" + svc.address() + "\"]}\n"
                  "routes:\n"
                  "  - {prefix: /private/, upstream: svc, auth: {htpasswd: \"" + dir.file("users") + "\"}}\n"
                  "  - {prefix: /api/, upstream: svc, limit: {rate: 1r/m, burst: 0, nodelay: true}}\n"
                  "  - prefix: /www/\n    static: {root: \"" + dir.file("www") + "\"}\n");
  auto page_with = [](const Response& r, int status, std::string_view field) {
    CHECK(r.status == status);
    CHECK(r.body == "<h1>not for you</h1>\n");
    CHECK(r.header("Content-Type") == "text/html; charset=utf-8");
    CHECK(r.header(field));
  };
  page_with(http_get(url(gw.port(), "/private/a")), 401, "WWW-Authenticate");

  Client client;
  Request post;
  post.method = "POST";
  post.url = url(gw.port(), "/www/index.html");
  auto refused = client.send(post);
  page_with(refused, 405, "Allow");
  CHECK(refused.header("Allow") == "GET, HEAD");

  CHECK(http_get(url(gw.port(), "/api/channels/1")).status == 200);
  page_with(http_get(url(gw.port(), "/api/channels/1")), 429, "Retry-After");
}

TEST_CASE("error pages: intercept replaces an instance's 500 and drops its body, without it the body is relayed") {
  TempDir dir;
  write_pages(dir);
  SampleService svc(dir);
  Gateway gw(dir, config(dir, svc, free_port()));

  Client c;  // one connection: the dropped body must not be left on it
  auto intercepted = c.get(url(gw.port(), "/intercepted/api/channels/1?status=500&size=5000"));
  CHECK(intercepted.status == 500);
  CHECK(intercepted.body == "<h1>oops</h1>\n");
  CHECK(intercepted.header("Content-Type") == "text/html; charset=utf-8");
  auto ok = c.get(url(gw.port(), "/intercepted/api/channels/1?size=10"));
  CHECK(ok.status == 200);
  CHECK(ok.body.size() == 10);
  auto not_listed = c.get(url(gw.port(), "/intercepted/api/channels/1?status=403&size=7"));  // no 403 page
  CHECK(not_listed.status == 403);
  CHECK(not_listed.body.size() == 7);

  auto relayed = c.get(url(gw.port(), "/relayed/api/channels/1?status=500&size=20"));
  CHECK(relayed.status == 500);
  CHECK(relayed.body.size() == 20);
  CHECK(relayed.body.find("oops") == std::string::npos);
}

TEST_CASE("error pages: --check names a missing page at file:line:column") {
  TempDir dir;
  write_pages(dir);
  auto path = dir.write("bad.yaml",
                        "error_pages:\n  404: pages/404.html\n  503: pages/gone.html\nroutes:\n"
                        "  - prefix: /\n    static: {root: www}\n");
  auto result = gateway_check(path);
  INFO(result.output);
  CHECK(result.exit_code != 0);
  CHECK(result.output.find(path + ":3:8: error_pages.503: cannot read error page \"pages/gone.html\"") !=
        std::string::npos);
}

TEST_CASE("static: --check names a root that is not there at file:line:column") {
  TempDir dir;
  auto path = dir.write("bad.yaml", "routes:\n  - prefix: /\n    static: {root: nowhere}\n");
  auto result = gateway_check(path);
  INFO(result.output);
  CHECK(result.exit_code != 0);
  CHECK(result.output.find(path + ":3:20: ") != std::string::npos);
  CHECK(result.output.find("cannot open root directory \"nowhere\"") != std::string::npos);
}
