// Request fields a route strips (issue 10 item 5): client-supplied
// X-Original-URL and X-Rewrite-URL (and Forwarded) reached the instances,
// and an instance that honours them (IIS URL Rewrite, Symfony, Zend) built
// the page of another URL, which the cache then served to everyone under
// the URL asked for. Stripped by default on every proxy route, cached or
// not, fragments of pages included; a route may strip more.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "harness.hpp"

using namespace itest;

namespace {

std::string one_upstream(const std::string& address, const std::string& routes, const std::string& extra = "") {
  return "workers: 1\naccess_log: off\n" + extra + "upstreams:\n  app:\n    instances: [\"" + address +
         "\"]\n    retries: 0\nroutes:\n" + routes;
}

}  // namespace

TEST_CASE("X-Original-URL, X-Rewrite-URL and Forwarded from a client reach no instance, on a plain or a cached route") {
  TempDir dir;
  CaptureServer up("HTTP/1.1 200 OK\r\nCache-Control: no-store\r\nContent-Length: 2\r\n\r\nok");
  Gateway gw(dir, one_upstream(up.address(),
                               "  - {prefix: /cached/, upstream: app, cache: {zone: main}}\n"
                               "  - {prefix: /, upstream: app}\n",
                               "caches:\n  main: {path: \"" + dir.file("cache") + "\"}\n"));
  const std::vector<std::string> hostile = {"X-Original-URL: /admin", "X-Rewrite-URL: /admin",
                                            "Forwarded: host=evil.example;proto=https", "X-Kept: yes"};
  CHECK(http_get(url(gw.port(), "/plain"), hostile).status == 200);
  CHECK(http_get(url(gw.port(), "/cached/x"), hostile).status == 200);
  auto reqs = up.requests();
  REQUIRE(reqs.size() == 2);
  for (const auto& head : reqs) {
    INFO(head);
    CHECK_FALSE(head_header(head, "X-Original-URL"));
    CHECK_FALSE(head_header(head, "X-Rewrite-URL"));
    CHECK_FALSE(head_header(head, "Forwarded"));
    CHECK(head_header(head, "X-Kept") == "yes");
  }
}

TEST_CASE("a route strips the request headers it lists besides the defaults, or only those with defaults: false") {
  TempDir dir;
  CaptureServer up;
  Gateway gw(dir, one_upstream(up.address(),
                               "  - {prefix: /more/, upstream: app, strip_request_headers: [X-Debug-User]}\n"
                               "  - prefix: /own/\n    upstream: app\n"
                               "    strip_request_headers: {defaults: false, headers: [X-Debug-User]}\n"));
  const std::vector<std::string> fields = {"X-Debug-User: root", "X-Original-URL: /admin"};
  REQUIRE(http_get(url(gw.port(), "/more/x"), fields).status == 200);
  REQUIRE(http_get(url(gw.port(), "/own/x"), fields).status == 200);
  auto reqs = up.requests();
  REQUIRE(reqs.size() == 2);
  CHECK_FALSE(head_header(reqs[0], "X-Debug-User"));
  CHECK_FALSE(head_header(reqs[0], "X-Original-URL"));
  CHECK_FALSE(head_header(reqs[1], "X-Debug-User"));
  CHECK(head_header(reqs[1], "X-Original-URL") == "/admin");  // the user's choice
}

TEST_CASE("a page's fragments go through their route's strip list") {
  TempDir dir;
  CaptureServer box("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nbox");
  dir.write("page.html", "<p><!--# include virtual=\"/box\" --></p>");
  Gateway gw(dir, one_upstream(box.address(),
                               "  - {path: /page, page: page.html}\n"
                               "  - {path: /box, upstream: app, strip_request_headers: [Cookie]}\n"));
  auto r = http_get(url(gw.port(), "/page"), {"Cookie: session=1", "X-Request-Id: r1"});
  REQUIRE(r.status == 200);
  CHECK(r.body == "<p>box</p>");
  auto reqs = box.requests();
  REQUIRE(reqs.size() == 1);
  INFO(reqs[0]);
  CHECK_FALSE(head_header(reqs[0], "Cookie"));
  CHECK(head_header(reqs[0], "X-Request-Id") == "r1");
}
