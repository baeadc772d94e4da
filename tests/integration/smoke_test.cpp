// The smallest end-to-end check: one instance behind the gateway.
#include <doctest/doctest.h>

#include "harness.hpp"

using namespace itest;

TEST_CASE("a request passes through the gateway to an instance and back") {
  TempDir dir;
  SampleService svc(dir, "a");
  Gateway gw(dir, "upstreams:\n" + upstream_yaml("app", {&svc}) + "routes:\n  - {prefix: /, upstream: app}\n");
  auto r = http_get(url(gw.port(), "/api/channels/7"));
  CHECK(r.status == 200);
  CHECK(r.header("X-Instance") == "a");
  CHECK(r.header("Via").value_or("").find("gateway") != std::string::npos);
  CHECK(r.body.find("\"id\":\"7\"") != std::string::npos);
  CHECK(svc.stat("requests") == 1);
}
