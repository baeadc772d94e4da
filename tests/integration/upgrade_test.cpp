// Zero-downtime binary upgrade (SIGUSR2), as nginx users know it: the binary
// at the path the gateway was started from (a new file by then) takes over
// the listening sockets, the old process drains and exits 0, a load
// generator running through it sees no failed request and no refused
// connection, and the disk cache is kept. When the new binary cannot take
// over (missing, the configuration now invalid, never ready) the old one
// keeps serving and says why; a second SIGUSR2 meanwhile is refused.
#include <doctest/doctest.h>

#include <signal.h>

#include <filesystem>
#include <fstream>

#include "upgrade_fixture.hpp"

using namespace itest;

namespace {

std::string x_cache(const Response& r) { return r.header("X-Cache").value_or("(none)"); }

const std::vector<std::string> kHost = {"Host: upgrade.test"};
const std::string kCached = "/api/channels/1?cache_control=max-age=300&size=20000";

std::string config(const TempDir& dir, const SampleService& svc, int workers) {
  return "workers: " + std::to_string(workers) + "\ntimeouts: {shutdown: 10s}\ncaches:\n  main: {path: \"" +
         dir.file("cache") + "\"}\nupstreams:\n" + upstream_yaml("app", {&svc}) +
         "routes:\n  - {prefix: /, upstream: app, cache: {zone: main}}\n";
}

// Upgrades under load from `old_workers` to `new_workers` workers.
void upgrade_under_load(int old_workers, int new_workers) {
  TempDir dir;
  SampleService svc(dir);
  UpgradeGateway gw(dir, config(dir, svc, old_workers));
  const pid_t old_pid = gw.first_pid();
  REQUIRE(gw.serving_pid() == old_pid);
  // An entry on disk, to be served by the new process.
  auto filled = http_get(url(gw.port(), kCached), kHost);
  REQUIRE(filled.status == 200);
  REQUIRE(eventually([&] { return x_cache(http_get(url(gw.port(), kCached), kHost)) == "HIT"; }, 5s));

  LoadGenerator load(gw.port(), "/api/channels/7", 6);
  REQUIRE(eventually([&] { return load.ok() >= 100; }, 20s));
  gw.rewrite_config(config(dir, svc, new_workers));
  gw.replace_binary();
  gw.process().signal(SIGUSR2);

  const pid_t new_pid = gw.wait_taken_over();
  // The load goes on against the new process alone for a while.
  const int at_exit = load.ok();
  CHECK(eventually([&] { return load.ok() >= at_exit + 300; }, 30s));
  load.finish();
  MESSAGE("upgrade " << old_workers << " -> " << new_workers << " workers under load: " << load.ok()
                     << " requests ok, " << load.failed() << " failed, " << load.refused()
                     << " connections refused");
  for (const auto& e : load.errors()) MESSAGE("error: " << e);
  CHECK(load.failed() == 0);
  CHECK(load.refused() == 0);

  auto st = gw.status();
  CHECK(json_int(st, "pid") == new_pid);
  CHECK(json_int(st, "workers") == new_workers);
  auto log = gw.error_log();
  CHECK(log.find("upgrade: new process " + std::to_string(new_pid) + " serves") != std::string::npos);
  CHECK(log.find("upgrade: serving; the old process drains") != std::string::npos);
  // The disk cache is kept: once the new process has loaded it (in the
  // background, after it said ready: a request meanwhile may go upstream),
  // the entry is served without asking the instance.
  REQUIRE(eventually([&] { return gw.status().find("\"loading\":false") != std::string::npos; }, 30s));
  const auto before = svc.stat("requests");
  CHECK(eventually([&] { return x_cache(http_get(url(gw.port(), kCached), kHost)) == "HIT"; }, 10s));
  CHECK(svc.stat("requests") == before);
}

}  // namespace

TEST_CASE("upgrade: SIGUSR2 under load hands the sockets to the new binary with no failed request") {
  upgrade_under_load(2, 3);
}

TEST_CASE("upgrade: the new binary may run fewer workers, each accepting on several handed sockets") {
  upgrade_under_load(3, 1);
}

TEST_CASE("upgrade: a missing new binary leaves the old process serving, and a later SIGUSR2 works") {
  TempDir dir;
  SampleService svc(dir);
  UpgradeGateway gw(dir, config(dir, svc, 2));
  std::filesystem::remove(gw.binary());
  gw.process().signal(SIGUSR2);
  INFO(gw.error_log());
  REQUIRE(gw.process().wait_for_output("upgrade failed"));
  CHECK(gw.error_log().find("cannot run the new binary " + gw.binary()) != std::string::npos);
  CHECK(http_get(url(gw.port(), "/api/channels/1")).status == 200);
  CHECK(gw.serving_pid() == gw.first_pid());
  CHECK(gw.process().running());

  // Nothing was left half done: with the file back, the upgrade goes through.
  gw.replace_binary();
  gw.process().signal(SIGUSR2);
  CHECK(eventually([&] { return gw.serving_pid() != gw.first_pid(); }, 30s));
  CHECK(gw.process().wait_exit(30s) == 0);
  CHECK(http_get(url(gw.port(), "/api/channels/1")).status == 200);
}

TEST_CASE("upgrade: a configuration now invalid leaves the old process serving") {
  TempDir dir;
  SampleService svc(dir);
  UpgradeGateway gw(dir, config(dir, svc, 2));
  gw.rewrite_config("workers: lots\n");
  gw.process().signal(SIGUSR2);
  REQUIRE(gw.process().wait_for_output("upgrade failed"));
  auto log = gw.error_log();
  INFO(log);
  CHECK(log.find("exited with status 1 before it was ready; this process keeps serving") != std::string::npos);
  CHECK(http_get(url(gw.port(), "/api/channels/1")).status == 200);
  CHECK(http_get(url(gw.admin_port(), "/status")).status == 200);
  CHECK(gw.serving_pid() == gw.first_pid());
}

TEST_CASE("upgrade: a second SIGUSR2 while one is under way is refused, and a stop ends the unready one") {
  TempDir dir;
  SampleService svc(dir);
  UpgradeGateway gw(dir, config(dir, svc, 1));
  // A "binary" that starts and never says ready.
  {
    std::ofstream script(gw.binary() + ".new");
    script << "#!/bin/sh\nexec sleep 60\n";
  }
  std::filesystem::permissions(gw.binary() + ".new", std::filesystem::perms::owner_all);
  std::filesystem::rename(gw.binary() + ".new", gw.binary());
  gw.process().signal(SIGUSR2);
  INFO(gw.error_log());
  REQUIRE(gw.process().wait_for_output("upgrade: started"));
  gw.process().signal(SIGUSR2);
  REQUIRE(gw.process().wait_for_output("SIGUSR2 refused: an upgrade is under way"));
  CHECK(http_get(url(gw.port(), "/api/channels/1")).status == 200);
  CHECK(gw.serving_pid() == gw.first_pid());
  // SIGTERM: the old one drains and takes the unready one down with it.
  CHECK(gw.process().stop(10s) == 0);
}
