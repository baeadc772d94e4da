// Composition end to end, the Server-Timing trailer of a chunked page: each
// include with its cache status, and the time a timed-out fragment was waited
// for. Shared helpers are in compose_fixture.hpp.
//
// Each TEST_CASE starts its own sample-service instances and gateway on
// ephemeral loopback ports; the harness stops them on destruction. Timing is
// shown by arrival order, never by sleeping.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "compose_fixture.hpp"
#include "harness.hpp"

using namespace itest;
using namespace itest::compose_test;

// ------------------------------------------------------------- trailer

TEST_CASE("compose: a chunked page ends with a Server-Timing trailer naming each include and its cache status") {
  TempDir dir;
  SampleService svc(dir, "svc");
  dir.write("page.html",
            "<!--# include virtual=\"/fragments/channel/{id}\" -->"
            "<!--# include virtual=\"/nocache/fragments/chat/{id}\" -->"
            "<!--# include virtual=\"/nocache/fragments/player/{id}?status=503\" fallback=\"\" -->"
            "<!--# include virtual=\"/nocache/fragments/recommended/{id}?delay_ms=3000\" timeout=\"200ms\" -->");
  Gateway gw(dir, "workers: 1\naccess_log: off\n"
                  "caches:\n  main: {path: cache, max_size: 64MiB}\n"
                  "upstreams:\n" +
                      upstream_yaml("app", {&svc}) +
                      "routes:\n"
                      "  - {path: \"/p/{id}\", page: page.html}\n"
                      "  - {prefix: /nocache/, upstream: app, strip_prefix: true}\n"
                      "  - {prefix: /fragments/, upstream: app, cache: {zone: main, ttl: 1h}}\n");

  for (const char* channel_status : {"MISS", "HIT"}) {
    CAPTURE(channel_status);
    auto all = joined(get_reads(gw.port(), "/p/9"));
    auto page = parse_chunked(all);
    INFO(all);
    REQUIRE(page.complete);
    CHECK(page.status == 200);
    CHECK(head_header(page.head, "Transfer-Encoding") == "chunked");
    CHECK(head_header(page.head, "Trailer") == "Server-Timing");
    CHECK(!head_header(page.head, "Server-Timing"));  // only in the trailer
    auto timing = parse_server_timing(server_timing_of(page.trailer));
    REQUIRE(timing.size() == 4);
    for (int i = 0; i < 4; ++i) {
      CHECK(timing[static_cast<std::size_t>(i)].name == "fragment-" + std::to_string(i + 1));
      CHECK(timing[static_cast<std::size_t>(i)].dur >= 0);
    }
    CHECK(timing[0].desc == std::string("/fragments/channel/9 ") + channel_status);
    CHECK(timing[1].desc == "/nocache/fragments/chat/9 -");
    CHECK(timing[2].desc == "/nocache/fragments/player/9?status=503 ERROR");
    CHECK(timing[3].desc == "/nocache/fragments/recommended/9?delay_ms=3000 TIMEOUT");
  }
}

TEST_CASE("compose: Server-Timing gives a timed-out fragment the time it was waited for") {
  TempDir dir;
  SampleService svc(dir, "svc");
  dir.write("page.html",
            "<!--# include virtual=\"/fragments/chat/{id}?delay_ms=4000\" timeout=\"200ms\" -->"
            "<!--# include virtual=\"/fragments/channel/{id}?delay_ms=1200\" -->");
  Gateway gw(dir, "workers: 1\naccess_log: off\nupstreams:\n" + upstream_yaml("app", {&svc}) +
                      "routes:\n"
                      "  - {path: \"/p/{id}\", page: {template: page.html, timeout: 10s}}\n"
                      "  - {prefix: /fragments/, upstream: app}\n");
  auto page = parse_chunked(joined(get_reads(gw.port(), "/p/1")));
  REQUIRE(page.complete);
  auto timing = parse_server_timing(server_timing_of(page.trailer));
  REQUIRE(timing.size() == 2);
  CHECK(timing[0].desc.ends_with(" TIMEOUT"));
  CHECK(timing[1].desc.ends_with(" -"));
  // The 200 ms fragment gave up long before the 1.2 s one finished.
  CHECK(timing[0].dur < timing[1].dur);
}
