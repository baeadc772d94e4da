// SIGHUP applies the whole configuration (issue 12, item 3), one change at a
// time: a new listener answers and a removed one refuses, a port taken
// rejects the reload and keeps everything serving, the worker count follows
// `workers` (visible in /status), a zone resized smaller evicts down to its
// new size and keeps the rest, tags_header takes effect at once, and
// `--check` warns about a key that cannot change while the gateway runs.
#include <doctest/doctest.h>

#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include <string>

#include "cache_fixture.hpp"
#include "harness.hpp"
#include "harness_reload.hpp"
#include "harness_tls.hpp"

using namespace itest;

namespace {
std::string routes(const SampleService& svc) {
  return "upstreams:\n" + upstream_yaml("app", {&svc}) + "routes:\n  - {prefix: /, upstream: app}\n";
}
std::int64_t status_int(std::uint16_t admin_port, std::string_view field) {
  return json_int(http_get(url(admin_port, "/status")).body, field).value_or(-1);
}
}  // namespace

TEST_CASE("reload: a new listener answers, a removed one refuses, the one kept serves throughout") {
  TempDir dir;
  SampleService svc(dir);
  EdgeGateway gw(dir, "listen: [\"127.0.0.1:0\"]\n", "workers: 2\n" + routes(svc));
  const auto kept = gw.port(0);
  const auto added = free_port();
  REQUIRE(!can_connect(added));

  const std::string two = "listen: [\"127.0.0.1:0\", \"127.0.0.1:" + std::to_string(added) + "\"]\n";
  gw.rewrite_config(two, "workers: 2\n" + routes(svc));
  REQUIRE(reload(gw.process()));
  // Every worker accepts on it: many fresh connections all answer.
  for (int i = 0; i < 20; ++i) CHECK(http_get(url(added, "/api/channels/1")).status == 200);
  CHECK(http_get(url(kept, "/api/channels/1")).status == 200);
  CHECK(gw.error_log().find("added by a reload") != std::string::npos);

  // A keep-alive connection on the listener about to go finishes its request.
  RawConnection open(added);
  REQUIRE(open.send("GET /api/channels/1?delay_ms=300 HTTP/1.1\r\nHost: x\r\n\r\n"));
  gw.rewrite_config("listen: [\"127.0.0.1:0\"]\n", "workers: 2\n" + routes(svc));
  REQUIRE(reload(gw.process()));
  auto in_flight = parse_responses(open.read_responses(1));
  REQUIRE(in_flight.size() == 1);
  CHECK(in_flight[0].status == 200);
  CHECK(eventually([&] { return !can_connect(added); }));
  CHECK(http_get(url(kept, "/api/channels/1")).status == 200);
}

TEST_CASE("reload: a listen port taken rejects the reload and everything keeps running") {
  TempDir dir;
  SampleService svc(dir);
  EdgeGateway gw(dir, "listen: [\"127.0.0.1:0\"]\n", "workers: 2\n" + routes(svc));
  // Another process's socket (no SO_REUSEPORT) holds the port.
  int taken = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(taken >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(taken, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::listen(taken, 1) == 0);
  socklen_t len = sizeof a;
  REQUIRE(::getsockname(taken, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  const auto port = ntohs(a.sin_port);

  gw.rewrite_config("listen: [\"127.0.0.1:0\", \"127.0.0.1:" + std::to_string(port) + "\"]\n",
                    "workers: 3\n" + routes(svc));
  CHECK(!reload(gw.process()));
  auto log = gw.error_log();
  INFO(log);
  CHECK(log.find("cannot listen on 127.0.0.1:" + std::to_string(port)) != std::string::npos);
  CHECK(status_int(gw.admin_port(), "workers") == 2);  // nothing applied
  CHECK(http_get(url(gw.port(0), "/api/channels/1")).status == 200);
  ::close(taken);
}

TEST_CASE("reload: workers 2 -> 4 -> 1 -> 3, shown in /status, every step serving") {
  TempDir dir;
  SampleService svc(dir);
  EdgeGateway gw(dir, "listen: [\"127.0.0.1:0\"]\n", "workers: 2\n" + routes(svc));
  CHECK(status_int(gw.admin_port(), "workers") == 2);
  for (int n : {4, 1, 3}) {
    CAPTURE(n);
    gw.rewrite_config("listen: [\"127.0.0.1:0\"]\n", "workers: " + std::to_string(n) + "\n" + routes(svc));
    REQUIRE(reload(gw.process()));
    CHECK(status_int(gw.admin_port(), "workers") == n);
    for (int i = 0; i < 20; ++i) CHECK(http_get(url(gw.port(0), "/api/channels/1")).status == 200);
  }
  // The counters of the workers let go stay in the totals.
  auto total = metric(gw.metrics(), "gateway_connections_total");
  REQUIRE(total);
  CHECK(*total >= 60);
}

TEST_CASE("reload: a zone resized smaller evicts down to its new size, keeps the rest and the new size shows") {
  using namespace cache_test;
  TempDir dir;
  SampleService svc(dir);
  Setup s;
  s.zone_extra = ", max_size: 4MiB, policy: lru";
  Gateway gw(dir, config(dir, svc, s));
  for (int i = 0; i < 20; ++i) fill(gw, url(gw.port(), "/api/channels/" + std::to_string(i) + "?size=60000"));
  auto zone = [&](std::string_view field) {
    auto st = gw.status();
    auto at = st.find("\"main\":");
    return at == std::string::npos ? -1 : json_int(st.substr(at), field).value_or(-1);
  };
  REQUIRE(zone("entries") == 20);
  const auto one = zone("bytes") / 20;

  s.zone_extra = ", max_size: 512KiB, policy: lru";
  gw.rewrite_config(config(dir, svc, s));
  REQUIRE(reload(gw.process()));
  CHECK(zone("max_size") == 512 * 1024);
  CHECK(zone("bytes") <= 512 * 1024);
  CHECK(zone("entries") == 512 * 1024 / one);
  CHECK(eventually([&] { return entry_files(zone_path(dir)).size() == static_cast<std::size_t>(zone("entries")); }));
  // The newest entries are kept and still hits.
  CHECK(x_cache(http_get(url(gw.port(), "/api/channels/19?size=60000"))) == "HIT");
  CHECK(x_cache(http_get(url(gw.port(), "/api/channels/0?size=60000"))) == "MISS");
}

TEST_CASE("reload: a zone's tags_header applies at once") {
  using namespace cache_test;
  TempDir dir;
  SampleService svc(dir);
  Gateway gw(dir, config(dir, svc));
  const std::string p = "/api/recommended/1?cache_control=max-age=300&header=X-Tag:%20t1";
  auto purge_tag = [&] {
    return json_int(post(url(gw.admin_port(), "/purge?tag=t1"), {}, "").body, "purged").value_or(-1);
  };
  fill(gw, url(gw.port(), p));
  CHECK(purge_tag() == 0);  // Surrogate-Key is the default: X-Tag is not read

  Setup s;
  s.zone_extra = ", tags_header: X-Tag";
  gw.rewrite_config(config(dir, svc, s));
  REQUIRE(reload(gw.process()));
  // Tags are read when a response is stored: the next fill is tagged.
  fill(gw, url(gw.port(), "/api/recommended/2?cache_control=max-age=300&header=X-Tag:%20t1"));
  CHECK(purge_tag() == 1);
  CHECK(x_cache(http_get(url(gw.port(), p))) == "HIT");  // stored untagged before the reload
}

TEST_CASE("reload: --check warns about a listen host name, which a reload cannot re-resolve, and passes") {
  TempDir dir;
  auto path = dir.write("g.yaml", "listen: [\"localhost:8080\"]\nadmin: {listen: \"127.0.0.1:8081\"}\n"
                                   "upstreams:\n  app: {instances: [\"127.0.0.1:1\"]}\n"
                                   "routes:\n  - {prefix: /, upstream: app}\n");
  auto r = gateway_check(path);
  INFO(r.output);
  CHECK(r.exit_code == 0);
  auto at = r.output.find(path + ":1:");
  REQUIRE(at != std::string::npos);
  CHECK(r.output.find(": warning: ", at) == r.output.find(':', at + path.size() + 3));
  CHECK(r.output.find("\"localhost\"") != std::string::npos);
  CHECK(r.output.find("is valid") != std::string::npos);
}
