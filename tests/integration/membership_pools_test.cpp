// Idle keep-alive connections to upstream instances are kept when the
// configuration is reloaded and when the membership of the group changes:
// the new pools take over the old ones' connections to the instances that
// stay (the gateway's opened/reused counters, and the sample-service's count
// of the connections it accepted, which includes one per /stats call).
#include <doctest/doctest.h>

#include <signal.h>

#include <future>

#include "membership_fixture.hpp"

using namespace itest;

namespace {
std::string route_all() { return "routes:\n  - {prefix: /, upstream: app}\n"; }

void get_n(const Gateway& gw, int n) {
  for (int i = 0; i < n; ++i) REQUIRE(http_get(url(gw.port(), "/api/channels/" + std::to_string(i))).status == 200);
}

double opened(const Gateway& gw) {
  return metric(gw.metrics(), "gateway_upstream_connections_opened_total{upstream=\"app\"}").value_or(-1);
}
}  // namespace

TEST_CASE("pools: a reload with an unchanged upstream reuses its keep-alive connections") {
  TempDir dir;
  SampleService a(dir, "a");
  Gateway gw(dir, "workers: 1\nupstreams:\n" + upstream_yaml("app", {&a}) + route_all());
  get_n(gw, 3);
  REQUIRE(opened(gw) == 1);
  auto accepted = a.stat("connections");
  gw.process().signal(SIGHUP);
  REQUIRE(gw.process().wait_for_output("configuration reloaded", 5s));
  get_n(gw, 3);
  CHECK(opened(gw) == 1);
  CHECK(a.stat("connections") == accepted + 1);  // the /stats call's own
  CHECK(metric(gw.metrics(), "gateway_upstream_connections_reused_total{upstream=\"app\"}").value_or(0) == 5);
}

TEST_CASE("pools: a membership change keeps the connections to the instances that stay") {
  TempDir dir;
  SampleService a(dir, "a"), b(dir, "b");
  Gateway gw(dir, "workers: 1\nupstreams:\n" + upstream_yaml("app", {&a}) + route_all());
  get_n(gw, 2);
  REQUIRE(opened(gw) == 1);
  REQUIRE(admin_call(gw, "POST", "/upstreams/app/instances", "{\"address\": \"" + b.address() + "\"}").status == 201);
  get_n(gw, 4);
  // One more: the new instance's; a's is reused.
  CHECK(opened(gw) == 2);
  REQUIRE(admin_call(gw, "DELETE", "/upstreams/app/instances/" + b.address()).status == 200);
  get_n(gw, 2);
  CHECK(opened(gw) == 2);
}

TEST_CASE("pools: a connection in use during a reload goes back to the new pool") {
  TempDir dir;
  SampleService a(dir, "a");
  Gateway gw(dir, "workers: 1\nupstreams:\n" + upstream_yaml("app", {&a}) + route_all());
  auto slow = std::async(std::launch::async, [&] { return http_get(url(gw.port(), "/api/channels/9?delay_ms=800")); });
  REQUIRE(eventually([&] { return !listed(gw, "app").empty() && listed(gw, "app")[0].in_flight == 1; }));
  gw.process().signal(SIGHUP);
  REQUIRE(gw.process().wait_for_output("configuration reloaded", 5s));
  CHECK(slow.get().status == 200);
  get_n(gw, 2);
  CHECK(opened(gw) == 1);
}
