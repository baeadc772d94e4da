// Composition end to end, fragments that fail: a fragment past its timeout
// gets its fallback, a failed required fragment fails the page with 502 or
// 504, a fragment over max_fragment_bytes falls back, and a client leaving
// while a fragment is pending. Shared helpers are in compose_fixture.hpp.
//
// Each TEST_CASE starts its own sample-service instances and gateway on
// ephemeral loopback ports; the harness stops them on destruction. Timing is
// shown by arrival order, never by sleeping.
#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "compose_fixture.hpp"
#include "harness.hpp"

using namespace itest;
using namespace itest::compose_test;

// ------------------------------------------------------------- failures

TEST_CASE("compose: a fragment past its timeout gets its fallback and the page is still 200") {
  TempDir dir;
  SampleService svc(dir, "svc");
  dir.write("page.html",
            "<a><!--# include virtual=\"/fragments/chat/{id}?delay_ms=2000\" stub=\"late\" timeout=\"200ms\" --></a>\n"
            "<b><!--# include virtual=\"/fragments/player/{id}?delay_ms=2000\" timeout=\"200ms\" "
            "fallback=\"&lt;i&gt;player later&lt;/i&gt;\" --></b>\n"
            "<c><esi:include src=\"/fragments/recommended/{id}?delay_ms=2000\" timeout=\"200ms\" "
            "onerror=\"continue\"/></c>\n"
            "<d><!--# include virtual=\"/fragments/channel/{id}\" --></d>\n"
            "<!--# block name=\"late\" --><p class=\"fallback\">chat is late</p><!--# endblock -->");
  Gateway gw(dir, "workers: 1\naccess_log: off\nupstreams:\n" + upstream_yaml("app", {&svc}) +
                      "routes:\n"
                      "  - {path: \"/p/{id}\", page: {template: page.html, timeout: 10s}}\n"
                      "  - {prefix: /fragments/, upstream: app}\n");

  auto t0 = Clock::now();
  auto r = http_get(url(gw.port(), "/p/5"));
  double took = ms_since(t0);
  REQUIRE(r.status == 200);
  CHECK(r.body == "<a><p class=\"fallback\">chat is late</p></a>\n"
                  "<b><i>player later</i></b>\n"
                  "<c></c>\n"
                  "<d>" + direct(svc, "/fragments/channel/5") + "</d>\n");
  // The page did not wait for the 2 s fragments (three of them, in parallel).
  CHECK(took < 1500);
}

TEST_CASE("compose: a failed required fragment fails the page with 502 or with 504 when it timed out") {
  TempDir dir;
  SampleService svc(dir, "svc"), doomed(dir, "doomed");
  dir.write("status500.html", "<p><!--# include virtual=\"/fragments/channel/{id}?status=500\" required --></p>\n");
  dir.write("stopped.html", "<p><!--# include virtual=\"/doomed/fragments/channel/{id}\" required=\"true\" --></p>\n");
  dir.write("slow.html",
            "<p><!--# include virtual=\"/fragments/channel/{id}?delay_ms=2000\" required timeout=\"200ms\" --></p>\n");
  dir.write("esi.html", "<p><esi:include src=\"/fragments/channel/{id}?status=500\"/></p>\n");
  dir.write("esi_continue.html",
            "<p><esi:include src=\"/fragments/channel/{id}?status=500\" onerror=\"continue\"/>|"
            "<!--# include virtual=\"/fragments/chat/{id}\" --></p>\n");
  dir.write("optional.html",
            "<p><!--# include virtual=\"/fragments/channel/{id}?status=500\" fallback=\"[no channel]\" --></p>\n");
  Gateway gw(dir, "workers: 1\naccess_log: off\nupstreams:\n" + upstream_yaml("app", {&svc}) +
                      upstream_yaml("doomed", {&doomed}) +
                      "routes:\n"
                      "  - {path: \"/status500/{id}\", page: status500.html}\n"
                      "  - {path: \"/stopped/{id}\", page: stopped.html}\n"
                      "  - {path: \"/slow/{id}\", page: slow.html}\n"
                      "  - {path: \"/esi/{id}\", page: esi.html}\n"
                      "  - {path: \"/esi_continue/{id}\", page: esi_continue.html}\n"
                      "  - {path: \"/optional/{id}\", page: optional.html}\n"
                      "  - {prefix: /doomed/, upstream: doomed, strip_prefix: true}\n"
                      "  - {prefix: /fragments/, upstream: app}\n");

  SUBCASE("status 500 -> 502") {
    auto r = http_get(url(gw.port(), "/status500/1"));
    CHECK(r.status == 502);
    CHECK(r.body.find("/fragments/channel/1?status=500") != std::string::npos);
    CHECK(r.body.find("widget") == std::string::npos);
  }
  SUBCASE("its only instance stopped -> 502") {
    REQUIRE(http_get(url(gw.port(), "/stopped/1")).status == 200);
    doomed.process().stop();
    auto r = http_get(url(gw.port(), "/stopped/1"));
    CHECK(r.status == 502);
    CHECK(r.body.find("required fragment") != std::string::npos);
  }
  SUBCASE("timed out -> 504") {
    auto t0 = Clock::now();
    auto r = http_get(url(gw.port(), "/slow/1"));
    CHECK(r.status == 504);
    CHECK(r.body.find("timed out") != std::string::npos);
    CHECK(ms_since(t0) < 1500);  // at its 200 ms timeout, not the fragment's 2 s
  }
  SUBCASE("an ESI include without onerror=continue is required -> 502") {
    CHECK(http_get(url(gw.port(), "/esi/1")).status == 502);
  }
  SUBCASE("an ESI include with onerror=continue is left out") {
    auto r = http_get(url(gw.port(), "/esi_continue/1"));
    CHECK(r.status == 200);
    CHECK(r.body == "<p>|" + direct(svc, "/fragments/chat/1") + "</p>\n");
  }
  SUBCASE("an optional SSI include shows its fallback") {
    auto r = http_get(url(gw.port(), "/optional/1"));
    CHECK(r.status == 200);
    CHECK(r.body == "<p>[no channel]</p>\n");
  }
}

TEST_CASE("compose: a fragment over max_fragment_bytes falls back and its route still caches it whole") {
  TempDir dir;
  SampleService svc(dir, "svc");
  dir.write("page.html",
            "<a><!--# include virtual=\"/fragments/channel/{id}?size=5000\" fallback=\"[too big]\" --></a>"
            "<b><!--# include virtual=\"/fragments/chat/{id}?size=900\" --></b>");
  Gateway gw(dir, "workers: 1\naccess_log: off\n"
                  "caches:\n  main: {path: cache, max_size: 64MiB}\n"
                  "upstreams:\n" +
                      upstream_yaml("app", {&svc}) +
                      "routes:\n"
                      "  - {path: \"/p/{id}\", page: {template: page.html, max_fragment_bytes: 1KiB}}\n"
                      "  - {prefix: /fragments/, upstream: app, cache: {zone: main, ttl: 1h}}\n");
  std::string small = direct(svc, "/fragments/chat/2?size=900");
  REQUIRE(small.size() == 900);
  for (int i = 0; i < 2; ++i) {  // a miss, then from the cache
    auto r = http_get(url(gw.port(), "/p/2"), {"Host: test"});
    CHECK(r.status == 200);
    CHECK(r.body == "<a>[too big]</a><b>" + small + "</b>");
  }
  // Cut short for the page, the fill still completed: the entry is whole.
  auto whole = http_get(url(gw.port(), "/fragments/channel/2?size=5000"), {"Host: test"});
  CHECK(whole.header("X-Cache") == "HIT");
  CHECK(whole.body == direct(svc, "/fragments/channel/2?size=5000"));
}

TEST_CASE("compose: a client leaving while a slow fragment is pending does not disturb the gateway") {
  TempDir dir;
  SampleService svc(dir, "svc");
  dir.write("page.html",
            "<a><!--# include virtual=\"/fragments/channel/{id}\" --></a>"
            "<b><!--# include virtual=\"/fragments/chat/{id}?delay_ms=800\" --></b>");
  Gateway gw(dir, "workers: 1\naccess_log: off\nupstreams:\n" + upstream_yaml("app", {&svc}) +
                      "routes:\n"
                      "  - {path: \"/p/{id}\", page: page.html}\n"
                      "  - {prefix: /fragments/, upstream: app}\n");
  for (int i = 0; i < 5; ++i) {
    RawConnection conn(gw.port());
    REQUIRE(conn.send("GET /p/1 HTTP/1.1\r\nHost: test\r\n\r\n"));
    std::string got;
    while (got.find("</a>") == std::string::npos) {
      auto more = conn.read_some(5s);
      REQUIRE(!more.empty());
      got += more;
    }
    CHECK(got.find("widget-chat") == std::string::npos);
  }  // each connection closes here, its slow fragment still pending
  // The abandoned fragments finish in the background; pages keep working.
  REQUIRE(eventually([&] { return svc.stat("requests") == 10; }));
  auto r = http_get(url(gw.port(), "/p/1"));
  CHECK(r.status == 200);
  CHECK(r.body == "<a>" + direct(svc, "/fragments/channel/1") + "</a><b>" + direct(svc, "/fragments/chat/1?delay_ms=800") + "</b>");
  CHECK(gw.process().running());
}
