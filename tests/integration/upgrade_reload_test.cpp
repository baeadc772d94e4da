// A binary upgrade after reloads that changed the listening sockets: the
// sockets a reload added (new workers') and those a retiring worker handed
// to another are all handed to the new binary, so none of them is closed
// with the old process (closing a SO_REUSEPORT socket resets the connections
// in its backlog), and the load running through both sees no failure.
#include <doctest/doctest.h>

#include <signal.h>

#include "upgrade_fixture.hpp"

using namespace itest;

namespace {

std::string config(const SampleService& svc, int workers) {
  return "workers: " + std::to_string(workers) + "\ntimeouts: {shutdown: 10s}\nupstreams:\n" +
         upstream_yaml("app", {&svc}) + "routes:\n  - {prefix: /, upstream: app}\n";
}

void reload_workers(UpgradeGateway& gw, const SampleService& svc, int workers) {
  gw.rewrite_config(config(svc, workers));
  gw.process().signal(SIGHUP);
  REQUIRE(eventually([&] { return json_int(gw.status(), "workers") == workers; }, 10s));
}

}  // namespace

TEST_CASE("upgrade after reloads: the sockets of added and retired workers are handed over, no request fails") {
  TempDir dir;
  SampleService svc(dir);
  UpgradeGateway gw(dir, config(svc, 1));
  LoadGenerator load(gw.port(), "/api/channels/3", 4);
  REQUIRE(eventually([&] { return load.ok() >= 50; }, 20s));

  reload_workers(gw, svc, 3);  // two sockets added, one per new worker
  reload_workers(gw, svc, 2);  // a retiring worker hands its socket to another
  gw.replace_binary();
  gw.process().signal(SIGUSR2);
  const pid_t new_pid = gw.wait_taken_over();
  const int at_exit = load.ok();
  CHECK(eventually([&] { return load.ok() >= at_exit + 200; }, 30s));
  load.finish();

  auto log = gw.error_log();
  INFO(log);
  // Three public sockets (the first worker's and the two a reload added,
  // one of them now accepted on by another worker) and the admin one.
  CHECK(log.find("upgrade: received 4 listening sockets from the old process") != std::string::npos);
  MESSAGE("reloads 1 -> 3 -> 2 workers, then an upgrade, under load: " << load.ok() << " requests ok, "
                                                                       << load.failed() << " failed, "
                                                                       << load.refused() << " connections refused");
  for (const auto& e : load.errors()) MESSAGE("error: " << e);
  CHECK(load.failed() == 0);
  CHECK(load.refused() == 0);
  CHECK(json_int(gw.status(), "pid") == new_pid);
}
