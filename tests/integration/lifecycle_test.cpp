// The gateway's life as an operator sees it: SIGTERM drains requests in
// flight and exits 0; SIGHUP swaps in a new configuration, or keeps the
// running one when the new file is broken.
#include <doctest/doctest.h>

#include <signal.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "harness.hpp"

using namespace itest;

namespace {
using Clock = std::chrono::steady_clock;
}

TEST_CASE("SIGTERM drains an in-flight slow request, refuses new connections, exits 0") {
  TempDir dir;
  SampleService a(dir, "a");
  Gateway gw(dir, "workers: 2\ntimeouts: {shutdown: 10s}\nupstreams:\n" + upstream_yaml("app", {&a}) +
                      "routes:\n  - {prefix: /, upstream: app}\n");

  // An idle keep-alive connection, to be closed by the drain.
  RawConnection idle(gw.port());
  REQUIRE(idle.send("GET /api/channels/1 HTTP/1.1\r\nHost: x\r\n\r\n"));
  REQUIRE(parse_responses(idle.read_responses(1)).size() == 1);
  a.reset_stats();

  std::atomic<bool> done{false};
  Response slow;
  std::thread t([&] {
    Client c;
    slow = c.get(url(gw.port(), "/api/channels/42?delay_ms=1500"));
    done.store(true);
  });
  // In flight: the instance has it.
  REQUIRE(eventually([&] { return a.stat("requests") == 1; }, 5s));
  auto signalled = Clock::now();
  gw.process().signal(SIGTERM);

  // New connections are refused while the slow request is still running.
  CHECK(eventually([&] { return !can_connect(gw.port()); }, 1s));
  CHECK_FALSE(done.load());
  CHECK(idle.closed_by_peer(1s));

  t.join();
  auto took = std::chrono::duration_cast<Ms>(Clock::now() - signalled);
  CHECK(slow.status == 200);
  CHECK(slow.body.find("\"id\":\"42\"") != std::string::npos);
  CHECK(slow.header("Connection") == "close");
  CHECK(took >= 1000ms);

  auto code = gw.process().wait_exit(5s);
  REQUIRE(code.has_value());
  CHECK(*code == 0);
  CHECK(gw.error_log().find("SIGTERM") != std::string::npos);
}

TEST_CASE("SIGTERM with a request past the shutdown deadline still exits, within the deadline") {
  TempDir dir;
  SampleService a(dir, "a");
  Gateway gw(dir, "workers: 1\ntimeouts: {shutdown: 500ms}\nupstreams:\n" + upstream_yaml("app", {&a}) +
                      "routes:\n  - {prefix: /, upstream: app}\n");
  std::thread t([&] { http_get(url(gw.port(), "/api/channels/1?delay_ms=5000")); });
  REQUIRE(eventually([&] { return a.stat("requests") == 1; }, 5s));
  auto signalled = Clock::now();
  gw.process().signal(SIGTERM);
  auto code = gw.process().wait_exit(4s);
  auto took = std::chrono::duration_cast<Ms>(Clock::now() - signalled);
  t.join();
  REQUIRE(code.has_value());
  CHECK(*code == 0);
  CHECK(took < 3000ms);
  CHECK(gw.error_log().find("drain deadline") != std::string::npos);
}

TEST_CASE("SIGHUP reloads a changed configuration, and a broken file is rejected and the old one keeps serving") {
  TempDir dir;
  SampleService channels(dir, "channels"), chat(dir, "chat");
  const std::string ups = "upstreams:\n" + upstream_yaml("channels", {&channels}) + upstream_yaml("chat", {&chat});
  const std::string v1 = "workers: 2\n" + ups + "routes:\n  - {prefix: /api/channels/, upstream: channels}\n";
  const std::string v2 = v1 + "  - {prefix: /api/chat/, upstream: chat}\n";
  Gateway gw(dir, v1);

  CHECK(http_get(url(gw.port(), "/api/channels/1")).status == 200);
  CHECK(http_get(url(gw.port(), "/api/chat/1")).status == 404);

  // A keep-alive connection open across the reload.
  RawConnection kept(gw.port());
  REQUIRE(kept.send("GET /api/chat/1 HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto before = parse_responses(kept.read_responses(1));
  REQUIRE(before.size() == 1);
  CHECK(before[0].status == 404);

  gw.rewrite_config(v2);
  gw.process().signal(SIGHUP);
  REQUIRE(gw.process().wait_for_output("configuration reloaded", 5s));
  auto r = http_get(url(gw.port(), "/api/chat/1"));
  CHECK(r.status == 200);
  CHECK(r.header("X-Instance") == "chat");
  // The old connection survives the reload (its first request after it
  // may still see the old routes: see the next test), then sees the new ones.
  REQUIRE(kept.send("GET /api/chat/1 HTTP/1.1\r\nHost: x\r\n\r\nGET /api/chat/2 HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto after = parse_responses(kept.read_responses(2));
  REQUIRE(after.size() == 2);
  CHECK(after[1].status == 200);

  // A broken file: an unknown key, reported with file:line:col.
  gw.rewrite_config(v2 + "bogus_key: 1\n");
  int bad_line = gw.config_line_of("bogus_key");
  REQUIRE(bad_line > 0);
  gw.process().signal(SIGHUP);
  REQUIRE(gw.process().wait_for_output("keeping the running configuration", 5s));
  auto err = gw.error_log();
  INFO(err);
  CHECK(err.find(gw.config_path() + ":" + std::to_string(bad_line) + ":1: ") != std::string::npos);
  CHECK(gw.process().running());
  CHECK(http_get(url(gw.port(), "/api/chat/1")).status == 200);
  CHECK(http_get(url(gw.port(), "/api/channels/1")).status == 200);

  // A route naming an unknown upstream: rejected as well.
  gw.rewrite_config(v1 + "  - {prefix: /api/x/, upstream: nowhere}\n");
  int dangling = gw.config_line_of("nowhere");
  gw.process().signal(SIGHUP);
  REQUIRE(eventually([&] {
    return count_of(gw.error_log(), "keeping the running configuration") == 2;
  }, 5s));
  CHECK(gw.error_log().find(gw.config_path() + ":" + std::to_string(dangling) + ":") != std::string::npos);
  CHECK(http_get(url(gw.port(), "/api/chat/1")).status == 200);

  // Back to v1: the chat route goes away.
  gw.rewrite_config(v1);
  gw.process().signal(SIGHUP);
  REQUIRE(eventually([&] { return count_of(gw.error_log(), "configuration reloaded") == 2; }, 5s));
  CHECK(http_get(url(gw.port(), "/api/chat/1")).status == 404);
}

TEST_CASE("the first request after SIGHUP on an idle keep-alive connection uses the new configuration") {
  TempDir dir;
  SampleService channels(dir, "channels"), chat(dir, "chat");
  const std::string ups = "upstreams:\n" + upstream_yaml("channels", {&channels}) + upstream_yaml("chat", {&chat});
  const std::string v1 = "workers: 1\n" + ups + "routes:\n  - {prefix: /api/channels/, upstream: channels}\n";
  Gateway gw(dir, v1);
  RawConnection kept(gw.port());
  REQUIRE(kept.send("GET /api/chat/1 HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto before = parse_responses(kept.read_responses(1));
  REQUIRE(before.size() == 1);
  CHECK(before[0].status == 404);

  gw.rewrite_config(v1 + "  - {prefix: /api/chat/, upstream: chat}\n");
  gw.process().signal(SIGHUP);
  REQUIRE(gw.process().wait_for_output("configuration reloaded", 5s));
  // A fresh connection on the same (only) worker proves the worker has the new state.
  REQUIRE(http_get(url(gw.port(), "/api/chat/1")).status == 200);
  REQUIRE(kept.send("GET /api/chat/1 HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto after = parse_responses(kept.read_responses(1));
  REQUIRE(after.size() == 1);
  CHECK(after[0].status == 200);
}
