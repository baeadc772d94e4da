// The admin API of upstream membership (gateway/admin_upstreams.hpp) with
// real sample-service instances: add, remove, weight and drain apply to
// every worker at once, errors are 4xx with a JSON reason, and a reload
// applies the file again (logging each API change it drops).
#include <doctest/doctest.h>

#include <signal.h>

#include <future>
#include <set>

#include "membership_fixture.hpp"

using namespace itest;

namespace {

std::string route_all() { return "routes:\n  - {prefix: /, upstream: app}\n"; }

// The instances that answered `n` requests.
std::multiset<std::string> answered_by(const Gateway& gw, int n) {
  std::multiset<std::string> seen;
  for (int i = 0; i < n; ++i) {
    auto r = http_get(url(gw.port(), "/api/channels/" + std::to_string(i)));
    seen.insert(r.status == 200 ? r.header("X-Instance").value_or("?") : "status " + std::to_string(r.status));
  }
  return seen;
}

}  // namespace

TEST_CASE("admin API: an added instance gets traffic on every worker, a removed one none, at once") {
  TempDir dir;
  SampleService a(dir, "a"), b(dir, "b");
  Gateway gw(dir, "workers: 2\nupstreams:\n" + upstream_yaml("app", {&a}) + route_all());
  auto added = admin_call(gw, "POST", "/upstreams/app/instances", "{\"address\": \"" + b.address() + "\"}");
  CHECK(added.status == 201);
  auto l = find_listed(gw, "app", b.address());
  REQUIRE(l);
  CHECK(l->source == "api");
  CHECK(l->state == "up");
  CHECK(find_listed(gw, "app", a.address())->source == "file");
  // Both workers balance over both instances.
  auto seen = answered_by(gw, 12);
  CHECK(seen.count("a") > 0);
  CHECK(seen.count("b") > 0);

  CHECK(admin_call(gw, "DELETE", "/upstreams/app/instances/" + b.address()).status == 200);
  CHECK_FALSE(find_listed(gw, "app", b.address()));
  CHECK(answered_by(gw, 8).count("a") == 8);
  CHECK(gw.error_log().find("upstream api: app: instance " + b.address() + " added") != std::string::npos);
}

TEST_CASE("admin API: errors are 4xx with a JSON reason") {
  TempDir dir;
  SampleService a(dir, "a");
  Gateway gw(dir, "workers: 1\nupstreams:\n" + upstream_yaml("app", {&a}) + route_all());
  struct Row {
    const char* method;
    std::string path;
    std::string body;
    long status;
    const char* reason;
  };
  const Row rows[] = {
      {"POST", "/upstreams/nope/instances", "{\"address\": \"127.0.0.1:1\"}", 404, "unknown upstream group"},
      {"POST", "/upstreams/app/instances", "{\"address\": \"" + a.address() + "\"}", 409, "already in the group"},
      {"POST", "/upstreams/app/instances", "{\"address\": \"nowhere\"}", 400, "invalid address"},
      {"POST", "/upstreams/app/instances", "not json", 400, "JSON object"},
      {"DELETE", "/upstreams/app/instances/127.0.0.1:1", "", 404, "no instance"},
      {"DELETE", "/upstreams/app/instances/" + a.address(), "", 409, "last one"},
      {"PATCH", "/upstreams/app/instances/" + a.address(), "{\"drain\": true}", 409, "last one"},
      {"PATCH", "/upstreams/app/instances/" + a.address(), "{\"weight\": 0}", 400, "weight"},
      {"PUT", "/upstreams/app/instances", "{}", 405, "POST adds"},
  };
  for (const auto& r : rows) {
    INFO(r.method << " " << r.path << " " << r.body);
    auto resp = admin_call(gw, r.method, r.path, r.body);
    CHECK(resp.status == r.status);
    CHECK(resp.body.find("{\"error\":") == 0);
    CHECK(resp.body.find(r.reason) != std::string::npos);
    CHECK(resp.header("Content-Type") == "application/json");
  }
  // Nothing changed.
  CHECK(listed(gw, "app").size() == 1);
  CHECK(http_get(url(gw.port(), "/api/channels/1")).status == 200);
}

TEST_CASE("admin API: a weight change applies to the balancing") {
  TempDir dir;
  SampleService a(dir, "a"), b(dir, "b");
  Gateway gw(dir, "workers: 1\nupstreams:\n" + upstream_yaml("app", {&a, &b}, "balance: weighted") + route_all());
  auto r = admin_call(gw, "PATCH", "/upstreams/app/instances/" + b.address(), "{\"weight\": 3}");
  CHECK(r.status == 200);
  CHECK(find_listed(gw, "app", b.address())->weight == 3);
  auto seen = answered_by(gw, 8);
  CHECK(seen.count("b") == 6);
  CHECK(seen.count("a") == 2);
}

TEST_CASE("admin API: a drained instance gets no new request, finishes the one in flight, then is removed") {
  TempDir dir;
  SampleService a(dir, "a"), b(dir, "b");
  Gateway gw(dir, "workers: 1\nupstreams:\n" + upstream_yaml("app", {&a, &b}) + route_all());
  auto slow = std::async(std::launch::async, [&] { return http_get(url(gw.port(), "/api/channels/9?delay_ms=1500")); });
  std::string busy = busy_instance(gw, "app");
  REQUIRE(!busy.empty());
  std::string other = busy == a.address() ? b.address() : a.address();
  std::string other_name = busy == a.address() ? "b" : "a";
  auto drained = admin_call(gw, "PATCH", "/upstreams/app/instances/" + busy, "{\"drain\": true}");
  CHECK(drained.status == 202);
  CHECK(find_listed(gw, "app", busy)->state == "draining");
  CHECK(answered_by(gw, 6).count(other_name) == 6);
  auto r = slow.get();
  CHECK(r.status == 200);
  CHECK(r.header("X-Instance") == (other_name == "a" ? "b" : "a"));
  CHECK(eventually([&] { return !find_listed(gw, "app", busy); }));
  CHECK(listed(gw, "app").size() == 1);
  CHECK(find_listed(gw, "app", other));
  CHECK(gw.process().wait_for_output("drain of " + busy + " done; removed", 5s));
}

TEST_CASE("admin API: an instance removed at once still finishes the request in flight on it") {
  TempDir dir;
  SampleService a(dir, "a"), b(dir, "b");
  Gateway gw(dir, "workers: 1\nupstreams:\n" + upstream_yaml("app", {&a, &b}) + route_all());
  auto slow = std::async(std::launch::async, [&] { return http_get(url(gw.port(), "/api/channels/9?delay_ms=1000")); });
  std::string busy = busy_instance(gw, "app");
  REQUIRE(!busy.empty());
  CHECK(admin_call(gw, "DELETE", "/upstreams/app/instances/" + busy).status == 200);
  CHECK_FALSE(find_listed(gw, "app", busy));
  auto r = slow.get();
  CHECK(r.status == 200);
  CHECK(r.header("X-Instance") == (busy == a.address() ? "a" : "b"));
}

TEST_CASE("admin API: a reload applies the file and logs each API change it drops") {
  TempDir dir;
  SampleService a(dir, "a"), b(dir, "b"), c(dir, "c");
  Gateway gw(dir, "workers: 1\nupstreams:\n" + upstream_yaml("app", {&a, &b}) + route_all());
  CHECK(admin_call(gw, "POST", "/upstreams/app/instances", "{\"address\": \"" + c.address() + "\"}").status == 201);
  CHECK(admin_call(gw, "DELETE", "/upstreams/app/instances/" + b.address()).status == 200);
  CHECK(listed(gw, "app").size() == 2);
  gw.process().signal(SIGHUP);
  REQUIRE(gw.process().wait_for_output("configuration reloaded", 5s));
  auto log = gw.error_log();
  CHECK(log.find("upstream api: instance " + c.address() +
                 " added by the admin API is not in the file; removed by reload") != std::string::npos);
  CHECK(log.find("upstream api: instance " + b.address() + " removed by the admin API is back by reload") !=
        std::string::npos);
  auto now = listed(gw, "app");
  REQUIRE(now.size() == 2);
  CHECK(now[0].address == a.address());
  CHECK(now[1].address == b.address());
}
