// A reload (SIGHUP) that changes a zone's `redis:` (issue 12): the zone's
// shared tier reconnects with the new settings (it used to keep the old ones
// until a restart). Here the address moves to another Redis and the
// key_prefix changes: fills go there, and the subscription follows.
#include <doctest/doctest.h>

#include <signal.h>

#include <string>

#include "fleet_redis_fixture.hpp"

using namespace itest;
using namespace itest::fleet_test;

TEST_CASE("fleet reload: new redis: settings apply on SIGHUP without a restart") {
  TempDir r1_dir, r2_dir, svc_dir, g_dir;
  RedisServer r1(r1_dir), r2(r2_dir);
  SampleService svc(svc_dir);
  Gateway g(g_dir, redis_gateway_config(g_dir, "{address: \"" + r1.address() + "\", timeout: 250ms}", svc));
  REQUIRE(eventually([&] { return fleet_subscribers(r1) == 1; }, 10s));
  fill_shared(g, r1, "/api/channels/1?cache_control=max-age=60");

  g.rewrite_config(redis_gateway_config(
      g_dir, "{address: \"" + r2.address() + "\", timeout: 250ms, key_prefix: \"gw2:\"}", svc));
  g.process().signal(SIGHUP);
  REQUIRE(eventually([&] { return Fleet::subscribers(r2, "gw2:events") == 1; }, 10s));
  CHECK(eventually([&] { return fleet_subscribers(r1) == 0; }, 10s));

  auto r = get(g, "/api/channels/2?cache_control=max-age=60");
  CHECK(r.status == 200);
  CHECK(eventually([&] { return !r2.keys("gw2:e:*channels/2*").empty(); }, 5s));
  CHECK(r1.keys("gw:e:*channels/2*").empty());
  CHECK(g.error_log().find("new redis: settings") != std::string::npos);
}
