// Response compression end to end (gateway/compress.hpp): gzip and br
// negotiated by Accept-Encoding on a proxied route and a composed page, the
// bodies decoded and compared with the identity one; Vary and weak ETags;
// responses left alone (not accepted, q=0, already encoded, no-transform, a
// type not listed, compression off by default); config errors at
// file:line:column. Cached routes: compress_cache_test.cpp.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "harness.hpp"
#include "harness_compress.hpp"

using namespace itest;

namespace {

// One upstream "app" and the given routes; `top` goes first (a top-level key).
std::string config(const SampleService& svc, const std::string& routes, const std::string& top = "") {
  return top + "upstreams:\n" + upstream_yaml("app", {&svc}, "retries: 0") + "routes:\n" + routes;
}

constexpr const char* kJson = "/api/channels/7?size=6000&etag=%22v1%22";

// The response to `path` with Accept-Encoding `accept`, decoded per its
// Content-Encoding; fails the test if it does not decode.
std::string decoded(const Response& r) {
  auto body = decode_body(r.header("Content-Encoding").value_or(""), r.body);
  REQUIRE_MESSAGE(body, "body does not decode as " << r.header("Content-Encoding").value_or("identity"));
  return *body;
}

}  // namespace

TEST_CASE("compress: proxied JSON in gzip and br decodes to the identity body, with Vary and a weak ETag") {
  TempDir dir;
  SampleService svc(dir);
  Gateway gw(dir, config(svc, "  - {prefix: /, upstream: app, compress: {types: [application/json], gzip_level: 6}}\n"));
  auto plain = http_get(url(gw.port(), kJson));
  REQUIRE(plain.status == 200);
  CHECK_FALSE(plain.header("Content-Encoding"));
  CHECK(plain.header("Vary") == "Accept-Encoding");  // it could have been compressed
  CHECK(plain.header("ETag") == "\"v1\"");
  for (std::string coding : {"gzip", "br"}) {
    INFO(coding);
    const std::string br_q = coding == "br" ? "1" : "0.5";
    auto r = http_get(url(gw.port(), kJson), {"Accept-Encoding: gzip, br;q=" + br_q});
    REQUIRE(r.status == 200);
    CHECK(r.header("Content-Encoding") == coding);
    CHECK(r.header("Vary") == "Accept-Encoding");
    CHECK(r.header("ETag") == "W/\"v1\"");
    CHECK_FALSE(r.header("Content-Length"));
    CHECK(r.body.size() < plain.body.size() / 2);
    CHECK(decoded(r) == plain.body);
  }
  CHECK(metric(gw.metrics(), "gateway_compressed_responses_total{coding=\"gzip\"}") == 1);
  CHECK(metric(gw.metrics(), "gateway_compressed_responses_total{coding=\"br\"}") == 1);
}

TEST_CASE("compress: identity when not accepted, refused with q=0, or the response must not be transformed") {
  TempDir dir;
  SampleService svc(dir);
  Gateway gw(dir, config(svc, "  - {prefix: /, upstream: app, compress: on}\n"));
  auto plain = http_get(url(gw.port(), kJson));
  struct Case {
    const char* name;
    std::string path;
    std::string accept;
  };
  const std::vector<Case> cases = {
      {"no Accept-Encoding", kJson, ""},
      {"gzip;q=0, br;q=0", kJson, "Accept-Encoding: gzip;q=0, br;q=0"},
      {"only deflate", kJson, "Accept-Encoding: deflate"},
      {"no-transform", "/api/channels/7?size=6000&cache_control=no-transform", "Accept-Encoding: gzip, br"},
      {"below min_bytes", "/api/channels/7?size=100", "Accept-Encoding: gzip, br"},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    auto r = http_get(url(gw.port(), c.path), c.accept.empty() ? std::vector<std::string>{}
                                                               : std::vector<std::string>{c.accept});
    REQUIRE(r.status == 200);
    CHECK_FALSE(r.header("Content-Encoding"));
    if (c.path == kJson) CHECK(r.body == plain.body);
  }
}

TEST_CASE("compress: an upstream body already encoded passes through untouched") {
  TempDir dir;
  SampleService svc(dir);
  Gateway gw(dir, config(svc, "  - {prefix: /, upstream: app, compress: on}\n"));
  const std::string path = "/api/channels/7?size=6000&header=Content-Encoding:gzip";
  auto direct = http_get(url(svc.port(), path), {"Accept-Encoding: gzip, br"});
  auto r = http_get(url(gw.port(), path), {"Accept-Encoding: gzip, br"});
  REQUIRE(r.status == 200);
  CHECK(r.header_count("Content-Encoding") == 1);
  CHECK(r.header("Content-Encoding") == "gzip");
  CHECK(r.body == direct.body);  // not compressed a second time
}

TEST_CASE("compress: off by default, and `compress: off` on a route overrides the top-level default") {
  TempDir dir;
  SampleService svc(dir);
  {
    TempDir gw_dir;
    Gateway gw(gw_dir, config(svc, "  - {prefix: /, upstream: app}\n"));
    auto r = http_get(url(gw.port(), kJson), {"Accept-Encoding: gzip, br"});
    CHECK_FALSE(r.header("Content-Encoding"));
    CHECK_FALSE(r.header("Vary"));
  }
  TempDir gw_dir;
  Gateway gw(gw_dir, config(svc,
                         "  - {prefix: /plain/, upstream: app, strip_prefix: true, compress: off}\n"
                         "  - {prefix: /, upstream: app}\n",
                         "compress: {types: [application/json], brotli_quality: 5}\n"));
  auto on = http_get(url(gw.port(), kJson), {"Accept-Encoding: br"});
  CHECK(on.header("Content-Encoding") == "br");
  auto off = http_get(url(gw.port(), std::string("/plain") + kJson), {"Accept-Encoding: br"});
  CHECK_FALSE(off.header("Content-Encoding"));
}

TEST_CASE("compress: a composed page streams compressed and decodes to the identity page") {
  TempDir dir;
  SampleService svc(dir);
  dir.write("page.html",
            "<!DOCTYPE html>\n<main>\n"
            "<!--# include virtual=\"/fragments/channel/{id}\" -->\n"
            "<!--# include virtual=\"/fragments/chat/{id}\" -->\n"
            "</main>\n");
  Gateway gw(dir, config(svc,
                         "  - {prefix: /fragments/, upstream: app}\n"
                         "  - {path: \"/channels/{id}\", page: {template: page.html},\n"
                         "     compress: {types: [text/html]}}\n"));
  auto plain = http_get(url(gw.port(), "/channels/3"));
  REQUIRE(plain.status == 200);
  REQUIRE(plain.body.find("</main>") != std::string::npos);
  for (std::string coding : {"gzip", "br"}) {
    INFO(coding);
    auto r = http_get(url(gw.port(), "/channels/3"), {"Accept-Encoding: " + coding});
    REQUIRE(r.status == 200);
    CHECK(r.header("Content-Encoding") == coding);
    CHECK(decoded(r) == plain.body);
  }
}

TEST_CASE("compress: --check refuses a bad level, quality or type at file:line:column") {
  TempDir dir;
  struct Case {
    const char* yaml;
    const char* expected;
  };
  const Case cases[] = {
      {"  - {prefix: /, upstream: app, compress: {gzip_level: 12}}\n", ":5:55: routes[0].compress.gzip_level: 12 is"},
      {"  - {prefix: /, upstream: app, compress: {brotli_quality: -1}}\n", ":5:59: routes[0].compress.brotli_quality"},
      {"  - {prefix: /, upstream: app, compress: {types: [json]}}\n", ":5:51: routes[0].compress.types[0]: invalid media type"},
  };
  for (const auto& c : cases) {
    INFO(c.yaml);
    auto path = dir.write("gw.yaml", std::string("listen: [\"127.0.0.1:0\"]\n"
                                                 "upstreams:\n  app: {instances: [\"127.0.0.1:9\"]}\nroutes:\n") +
                                         c.yaml);
    auto result = gateway_check(path);
    CHECK(result.exit_code != 0);
    CHECK_MESSAGE(result.output.find(path + c.expected) != std::string::npos, result.output);
  }
}
