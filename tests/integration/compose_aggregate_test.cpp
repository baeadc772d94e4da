// Composition end to end, JSON aggregates: parts merged into one object in
// config order with Server-Timing, failed or late optional parts left out and
// named in X-Aggregate-Missing, and 502 or 504 for a required part. Shared
// helpers are in compose_fixture.hpp.
//
// Each TEST_CASE starts its own sample-service instances and gateway on
// ephemeral loopback ports; the harness stops them on destruction. Timing is
// shown by arrival order, never by sleeping.
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <vector>

#include "compose_fixture.hpp"
#include "harness.hpp"

using namespace itest;
using namespace itest::compose_test;

// ------------------------------------------------------------- aggregates

TEST_CASE("compose: aggregate parts are merged into one JSON object in config order with Server-Timing") {
  TempDir dir;
  SampleService channels(dir, "channels"), chat(dir, "chat"), rec(dir, "rec");
  Gateway gw(dir, "workers: 1\naccess_log: off\nupstreams:\n" + upstream_yaml("channels", {&channels}) +
                      upstream_yaml("chat", {&chat}) + upstream_yaml("rec", {&rec}) +
                      "routes:\n"
                      "  - path: \"/api/summary/{id}\"\n"
                      "    aggregate:\n"
                      "      recommended: \"/api/recommended/{id}\"\n"
                      "      channel: \"/api/channels/{id}\"\n"
                      "      chat: \"/api/chat/{id}\"\n"
                      "  - {prefix: /api/channels/, upstream: channels}\n"
                      "  - {prefix: /api/chat/, upstream: chat}\n"
                      "  - {prefix: /api/recommended/, upstream: rec}\n");
  auto r = http_get(url(gw.port(), "/api/summary/42"));
  REQUIRE(r.status == 200);
  CHECK(r.header("Content-Type") == "application/json");
  CHECK(!r.header("X-Aggregate-Missing"));
  CHECK(r.body == "{\"recommended\":" + direct(rec, "/api/recommended/42") +
                      ",\"channel\":" + direct(channels, "/api/channels/42") +
                      ",\"chat\":" + direct(chat, "/api/chat/42") + "}");
  auto timing = parse_server_timing(r.header("Server-Timing").value_or(""));
  REQUIRE(timing.size() == 3);
  CHECK(timing[0].name == "recommended");
  CHECK(timing[0].desc == "/api/recommended/42 -");
  CHECK(timing[1].name == "channel");
  CHECK(timing[1].desc == "/api/channels/42 -");
  CHECK(timing[2].name == "chat");
  CHECK(timing[2].desc == "/api/chat/42 -");
  for (const auto& t : timing) CHECK(t.dur >= 0);
}

TEST_CASE("compose: aggregate leaves out failed or late optional parts and names them in X-Aggregate-Missing") {
  TempDir dir;
  SampleService svc(dir, "svc");
  Gateway gw(dir, "workers: 1\naccess_log: off\nupstreams:\n" + upstream_yaml("app", {&svc}) +
                      "routes:\n"
                      "  - path: \"/partial/{id}\"\n"
                      "    aggregate:\n"
                      "      parts:\n"
                      "        channel: \"/api/channels/{id}\"\n"
                      "        chat: \"/api/chat/{id}?status=500\"\n"
                      "        html: \"/fragments/chat/{id}\"\n"
                      "        slow: \"/api/recommended/{id}?delay_ms=2000\"\n"
                      "        recommended: \"/api/recommended/{id}\"\n"
                      "      timeout: 300ms\n"
                      "  - {prefix: /, upstream: app}\n");

  auto t0 = Clock::now();
  auto partial = http_get(url(gw.port(), "/partial/42"));
  double took = ms_since(t0);
  REQUIRE(partial.status == 200);
  CHECK(partial.header("Content-Type") == "application/json");
  CHECK(partial.header("X-Aggregate-Missing") == "chat, html, slow");
  CHECK(partial.body == "{\"channel\":" + direct(svc, "/api/channels/42") +
                            ",\"recommended\":" + direct(svc, "/api/recommended/42") + "}");
  auto timing = parse_server_timing(partial.header("Server-Timing").value_or(""));
  REQUIRE(timing.size() == 5);
  CHECK(timing[0].desc == "/api/channels/42 -");
  CHECK(timing[1].desc == "/api/chat/42?status=500 ERROR");
  CHECK(timing[2].desc == "/fragments/chat/42 ERROR");  // not JSON
  CHECK(timing[3].desc == "/api/recommended/42?delay_ms=2000 TIMEOUT");
  CHECK(timing[4].name == "recommended");
  CHECK(took < 1500);  // the late part was not waited for
}

TEST_CASE("compose: aggregate fails with 502 on a failed required part and 504 on a late one") {
  TempDir dir;
  SampleService svc(dir, "svc");
  Gateway gw(dir, "workers: 1\naccess_log: off\nupstreams:\n" + upstream_yaml("app", {&svc}) +
                      "routes:\n"
                      "  - path: \"/broken/{id}\"\n"
                      "    aggregate:\n"
                      "      parts:\n"
                      "        channel: {path: \"/api/channels/{id}?status=500\", required: true}\n"
                      "        chat: \"/api/chat/{id}\"\n"
                      "      timeout: 5s\n"
                      "  - path: \"/late/{id}\"\n"
                      "    aggregate:\n"
                      "      chat: \"/api/chat/{id}\"\n"
                      "      channel: {path: \"/api/channels/{id}?delay_ms=2000\", required: true, timeout: 200ms}\n"
                      "  - path: \"/fine/{id}\"\n"
                      "    aggregate:\n"
                      "      channel: {path: \"/api/channels/{id}\", required: true}\n"
                      "      chat: {path: \"/api/chat/{id}?delay_ms=2000\", timeout: 200ms}\n"
                      "  - {prefix: /, upstream: app}\n");

  auto broken = http_get(url(gw.port(), "/broken/42"));
  CHECK(broken.status == 502);
  CHECK(broken.header("Content-Type") == "application/json");
  CHECK(broken.body.starts_with("{\"error\":\""));
  CHECK(broken.body.find("channel") != std::string::npos);
  CHECK(broken.body.ends_with("\"}\n"));
  CHECK(count_of(broken.body, "\"") == 4);  // one string member, nothing unescaped

  auto late = http_get(url(gw.port(), "/late/42"));
  CHECK(late.status == 504);
  CHECK(late.header("Content-Type") == "application/json");
  CHECK(late.body.starts_with("{\"error\":\""));

  // A required part that answers, and an optional one past its own timeout.
  auto fine = http_get(url(gw.port(), "/fine/42"));
  CHECK(fine.status == 200);
  CHECK(fine.header("X-Aggregate-Missing") == "chat");
  CHECK(fine.body == "{\"channel\":" + direct(svc, "/api/channels/42") + "}");
}
