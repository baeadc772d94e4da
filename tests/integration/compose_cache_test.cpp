// Composition end to end, caching: fragments are cached by their own routes
// with their own TTLs, and /metrics counts fragment hits, misses, timeouts,
// errors and fallbacks per route. Shared helpers are in compose_fixture.hpp.
//
// Each TEST_CASE starts its own sample-service instances and gateway on
// ephemeral loopback ports; the harness stops them on destruction. Timing is
// shown by arrival order, never by sleeping.
#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

#include "compose_fixture.hpp"
#include "harness.hpp"

using namespace itest;
using namespace itest::compose_test;

// ------------------------------------------------------------- caching

TEST_CASE("compose: fragments are cached by their own routes with their own TTLs") {
  TempDir dir;
  SampleService channel(dir, "channel"), chat(dir, "chat"), rec(dir, "rec");
  dir.write("page.html",
            "<!--# include virtual=\"/fragments/channel/{id}\" -->"
            "<!--# include virtual=\"/fragments/chat/{id}\" -->"
            "<!--# include virtual=\"/fragments/recommended/{id}\" -->");
  Gateway gw(dir, "workers: 2\naccess_log: off\n"
                  "caches:\n  main: {path: cache, max_size: 64MiB}\n"
                  "upstreams:\n" +
                      upstream_yaml("channel", {&channel}) + upstream_yaml("chat", {&chat}) +
                      upstream_yaml("rec", {&rec}) +
                      "routes:\n"
                      "  - {path: \"/p/{id}\", page: page.html}\n"
                      "  - {prefix: /fragments/channel/, upstream: channel, cache: {zone: main, ttl: 1h}}\n"
                      "  - {prefix: /fragments/chat/, upstream: chat}\n"
                      "  - {prefix: /fragments/recommended/, upstream: rec, cache: {zone: main, ttl: 10m}}\n");
  for (auto* s : {&channel, &chat, &rec}) s->reset_stats();

  constexpr int kPages = 5;
  std::string first;
  for (int i = 0; i < kPages; ++i) {
    auto reads = get_reads(gw.port(), "/p/3");
    auto page = parse_chunked(joined(reads));
    REQUIRE(page.complete);
    REQUIRE(page.status == 200);
    if (i == 0) first = page.body;
    CHECK(page.body == first);  // the same page, from cache or not
    auto timing = parse_server_timing(server_timing_of(page.trailer));
    REQUIRE(timing.size() == 3);
    const char* cached = i == 0 ? " MISS" : " HIT";
    CHECK(timing[0].desc == std::string("/fragments/channel/3") + cached);
    CHECK(timing[1].desc == "/fragments/chat/3 -");  // a route without a cache
    CHECK(timing[2].desc == std::string("/fragments/recommended/3") + cached);
  }
  // One upstream request per cached fragment; one per page for the other.
  CHECK(channel.stat("requests") == 1);
  CHECK(rec.stat("requests") == 1);
  CHECK(chat.stat("requests") == kPages);

  // The cached fragments are the routes' own entries: a direct request hits.
  // (Same Host as the page's: fragments carry the page's Host, part of the key.)
  auto direct_hit = http_get(url(gw.port(), "/fragments/channel/3"), {"Host: test"});
  CHECK(direct_hit.header("X-Cache") == "HIT");
  CHECK(channel.stat("requests") == 1);
}

TEST_CASE("compose: a short-TTL fragment is fetched again while a long-TTL one stays cached") {
  TempDir dir;
  SampleService channel(dir, "channel"), chat(dir, "chat");
  dir.write("page.html",
            "<!--# include virtual=\"/fragments/channel/{id}\" -->"
            "<!--# include virtual=\"/fragments/chat/{id}\" -->");
  Gateway gw(dir, "workers: 1\naccess_log: off\n"
                  "caches:\n  main: {path: cache, max_size: 64MiB}\n"
                  "upstreams:\n" +
                      upstream_yaml("channel", {&channel}) + upstream_yaml("chat", {&chat}) +
                      "routes:\n"
                      "  - {path: \"/p/{id}\", page: page.html}\n"
                      "  - {prefix: /fragments/channel/, upstream: channel, cache: {zone: main, ttl: 1h}}\n"
                      "  - {prefix: /fragments/chat/, upstream: chat, cache: {zone: main, ttl: 1s}}\n");
  for (auto* s : {&channel, &chat}) s->reset_stats();

  auto timing_of_page = [&] {
    auto page = parse_chunked(joined(get_reads(gw.port(), "/p/2")));
    REQUIRE(page.complete);
    REQUIRE(page.status == 200);
    auto timing = parse_server_timing(server_timing_of(page.trailer));
    REQUIRE(timing.size() == 2);
    return timing;
  };
  auto first = timing_of_page();
  CHECK(first[0].desc == "/fragments/channel/2 MISS");
  CHECK(first[1].desc == "/fragments/chat/2 MISS");

  // Pages until the chat fragment's 1 s has run out (polled, not slept).
  int pages = 1;
  std::vector<Timing> last;
  bool refetched = eventually(
      [&] {
        last = timing_of_page();
        ++pages;
        CHECK(last[0].desc == "/fragments/channel/2 HIT");
        return last[1].desc != "/fragments/chat/2 HIT";
      },
      15s);
  REQUIRE(refetched);
  INFO("pages: " << pages);
  CHECK(pages > 2);
  CHECK(last[1].desc == "/fragments/chat/2 EXPIRED");
  CHECK(channel.stat("requests") == 1);
  CHECK(chat.stat("requests") == 2);
}

// ------------------------------------------------------------- metrics

TEST_CASE("compose: /metrics counts fragment hits and misses and timeouts and errors and fallbacks per route") {
  TempDir dir;
  SampleService svc(dir, "svc");
  dir.write("page.html",
            "<!--# include virtual=\"/fragments/channel/{id}\" -->"
            "<!--# include virtual=\"/nocache/fragments/chat/{id}?delay_ms=2000\" timeout=\"100ms\" -->"
            "<!--# include virtual=\"/nocache/fragments/player/{id}?status=500\" -->"
            "<!--# include virtual=\"/nocache/fragments/recommended/{id}\" -->");
  Gateway gw(dir, "workers: 2\naccess_log: off\n"
                  "caches:\n  main: {path: cache, max_size: 64MiB}\n"
                  "upstreams:\n" +
                      upstream_yaml("app", {&svc}) +
                      "routes:\n"
                      "  - {path: \"/p/{id}\", page: page.html}\n"
                      "  - path: \"/agg/{id}\"\n"
                      "    aggregate:\n"
                      "      channel: \"/api/channels/{id}\"\n"
                      "      chat: \"/nocache/api/chat/{id}?status=503\"\n"
                      "  - {prefix: /nocache/, upstream: app, strip_prefix: true}\n"
                      "  - {prefix: /fragments/, upstream: app, cache: {zone: main, ttl: 1h}}\n"
                      "  - {prefix: /api/, upstream: app, cache: {zone: main, ttl: 1h}}\n");
  constexpr int kPages = 3;
  for (int i = 0; i < kPages; ++i) REQUIRE(http_get(url(gw.port(), "/p/1")).status == 200);
  for (int i = 0; i < 2; ++i) REQUIRE(http_get(url(gw.port(), "/agg/1")).status == 200);
  auto text = gw.metrics();
  INFO(text);
  auto count = [&](std::string_view route, std::string_view outcome) {
    return metric(text, "gateway_page_fragments_total{route=\"" + std::string(route) + "\",outcome=\"" +
                            std::string(outcome) + "\"}");
  };
  // Per page: channel (cached: a miss, then hits), recommended (uncached: a
  // miss), chat (a timeout), player (an error); each failure a fallback.
  CHECK(count("/p/{id}", "hit") == kPages - 1);
  CHECK(count("/p/{id}", "miss") == 1 + kPages);
  CHECK(count("/p/{id}", "timeout") == kPages);
  CHECK(count("/p/{id}", "error") == kPages);
  CHECK(count("/p/{id}", "fallback") == 2 * kPages);
  // Per aggregate: channel (cached: a miss, then a hit), chat (an error, left out).
  CHECK(count("/agg/{id}", "hit") == 1);
  CHECK(count("/agg/{id}", "miss") == 1);
  CHECK(count("/agg/{id}", "error") == 2);
  CHECK(count("/agg/{id}", "fallback") == 2);  // left out
  CHECK(count("/agg/{id}", "timeout") == 0);
}
