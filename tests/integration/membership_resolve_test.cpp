// `resolve:` on an upstream group: its host names are looked up again on
// that period (c-ares, on the server's resolver thread, against the
// `resolver:` servers), every A/AAAA record is an instance, and the
// instances follow the answers. The DNS server is a responder in the test
// (membership_fixture.hpp) whose table the test changes.
#include <doctest/doctest.h>

#include "membership_fixture.hpp"

using namespace itest;

namespace {
std::string route_all() { return "routes:\n  - {prefix: /, upstream: app}\n"; }

std::string resolve_yaml(const DnsResponder& dns, std::uint16_t port) {
  return "workers: 2\nresolver: [\"" + dns.address() + "\"]\nupstreams:\n  app:\n    instances: [\"svc.test:" +
         std::to_string(port) + "\"]\n    resolve: 200ms\n" + route_all();
}

bool reaches(const Gateway& gw, const std::string& name) {
  for (int i = 0; i < 6; ++i)
    if (http_get(url(gw.port(), "/api/channels/" + std::to_string(i))).header("X-Instance") == name) return true;
  return false;
}
}  // namespace

TEST_CASE("resolve: instances appear and disappear with the DNS answers, and get traffic") {
  TempDir dir;
  SampleService a(dir, "a");
  SampleService b(dir, "b", {"--host", "127.0.0.2", "--port", std::to_string(a.port())});
  const std::string at_a = "127.0.0.1:" + std::to_string(a.port());
  const std::string at_b = "127.0.0.2:" + std::to_string(a.port());
  DnsResponder dns;
  dns.set("svc.test", {"127.0.0.1"});
  Gateway gw(dir, resolve_yaml(dns, a.port()));
  auto first = listed(gw, "app");
  REQUIRE(first.size() == 1);
  CHECK(first[0].address == at_a);
  CHECK(first[0].source == "resolve");
  CHECK(reaches(gw, "a"));

  dns.set("svc.test", {"127.0.0.1", "127.0.0.2"});
  REQUIRE(eventually([&] { return listed(gw, "app").size() == 2; }));
  CHECK(find_listed(gw, "app", at_b)->source == "resolve");
  CHECK(instance_state(gw.status(), at_b) == "up");
  CHECK(eventually([&] { return reaches(gw, "b"); }));

  dns.set("svc.test", {"127.0.0.2"});
  REQUIRE(eventually([&] { return !find_listed(gw, "app", at_a); }));
  CHECK_FALSE(instance_state(gw.status(), at_a));
  CHECK(listed(gw, "app").size() == 1);
  for (int i = 0; i < 4; ++i) CHECK(http_get(url(gw.port(), "/api/channels/" + std::to_string(i))).header("X-Instance") == "b");

  // A failed lookup keeps the last good set, and says so once.
  dns.set("svc.test", {});
  int asked = dns.queries();
  REQUIRE(eventually([&] { return dns.queries() >= asked + 6; }));
  CHECK(count_of(gw.error_log(), "lookup of svc.test failed; keeping its last addresses") == 1);
  CHECK(find_listed(gw, "app", at_b));
  CHECK(http_get(url(gw.port(), "/api/channels/1")).status == 200);
}

TEST_CASE("resolve: a name that does not resolve at start starts with no instance of it, then gets them") {
  TempDir dir;
  SampleService a(dir, "a");
  DnsResponder dns;
  Gateway gw(dir, resolve_yaml(dns, a.port()));
  CHECK(listed(gw, "app").empty());
  CHECK(gw.error_log().find("svc.test does not resolve; no instance of it until it does") != std::string::npos);
  CHECK(http_get(url(gw.port(), "/api/channels/1")).status == 503);
  dns.set("svc.test", {"127.0.0.1"});
  REQUIRE(eventually([&] { return listed(gw, "app").size() == 1; }));
  CHECK(http_get(url(gw.port(), "/api/channels/1")).status == 200);
}
