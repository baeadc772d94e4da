// Tests for the top level of the configuration loader (gateway/config.cpp):
// reading the file, YAML syntax errors, the sections a file must have, the
// checks across sections (the names routes give, routes that repeat another),
// and every error reported at once, in file order.
#include "gateway/config.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "config_check.hpp"

using namespace gateway;
using namespace gateway::config::testing;

namespace {

constexpr ErrorCase kTopLevelErrors[] = {
    {"unknown top-level key", R"(listen: "127.0.0.1:8080"
lisen: "127.0.0.1:8081"
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 2, 1, "unknown key \"lisen\""},

    {"a file without routes", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
workers: 2
)", 1, 1, "missing required key \"routes\""},

    {"a document that is not a map", R"(- listen
- routes
)", 1, 1, "expected a map, got a list"},
};

// A route names an upstream or a cache zone that no section defines, or
// repeats another route.
constexpr ErrorCase kCrossReferenceErrors[] = {
    {"a route naming an unknown upstream", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - {prefix: /, upstream: app}
  - prefix: /v2/
    upstream: ap
)", 5, 15, "routes[1].upstream: unknown upstream \"ap\""},

    {"a route naming an unknown cache zone", R"(caches: {main: {path: var/cache}}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    cache: {zone: mian, ttl: 10s}
)", 6, 19, "routes[0].cache.zone: unknown cache zone \"mian\""},

    {"a shorthand cache naming an unknown zone", R"(caches: {main: {path: var/cache}}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    cache: mian
)", 6, 12, "routes[0].cache: unknown cache zone \"mian\""},

    {"a cache zone used without any caches", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    cache:
      zone: main
)", 6, 13, "routes[0].cache.zone: unknown cache zone \"main\""},

    {"a duplicate route", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - {prefix: /api/, host: [a.example, B.example], upstream: app}
  - {prefix: /, upstream: app}
  - {prefix: /api/, host: [b.example, a.example], upstream: app}
)", 5, 5, "duplicate route: same host and prefix as routes[0] (line 3)"},
};

}  // namespace

TEST_CASE("config load: a file from disk: its name, and relative paths from its directory") {
  TempDir dir;
  fs::path file = dir.write("conf/gateway.yaml", R"(access_log: logs/access.log
caches:
  main: {path: var/../var/cache/}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)");
  auto loaded = loaded_ok(load_config(file.string()));
  const auto& config = *loaded;
  CHECK(config.file == file.string());
  // Relative to the config file's directory, not the working directory.
  CHECK(config.access_log == (dir.path() / "conf/logs/access.log").string());
  // Absolute, relative to the config file's directory, normal, no trailing '/'.
  REQUIRE(config.caches.size() == 1);
  CHECK(config.caches[0].path == (dir.path() / "conf/var/cache").string());
}

TEST_CASE("config load: a relative file name becomes absolute") {
  auto config = load_ok(R"(upstreams: {app: {instances: ["127.0.0.1:1"]}}
routes: [{prefix: /x, upstream: app}]
)", "rel/gw.yaml");
  CHECK(fs::path(config->file).is_absolute());
  CHECK(config->file == (fs::current_path() / "rel/gw.yaml").string());
}

TEST_CASE("config load: a minimal file gets every default") {
  auto loaded = load_ok(R"(upstreams:
  app: {instances: ["localhost:9001"]}
routes:
  - {path: /, upstream: app}
)", "/etc/gateway/gateway.yaml");
  const auto& config = *loaded;
  CHECK(config.file == "/etc/gateway/gateway.yaml");
  REQUIRE(config.listen.size() == 1);
  CHECK(config.listen[0].address.text == "127.0.0.1:8080");
  CHECK(config.workers == 0);
  CHECK_FALSE(config.admin.listen.has_value());
  CHECK(config.access_log == "stdout");
  CHECK(config.limits.header_bytes == 16 * 1024);
  CHECK(config.limits.body_bytes == 10 * 1024 * 1024);
  CHECK(config.timeouts.upstream_read == Duration{30'000});
  CHECK(config.upstreams[0].retries == 1);
  CHECK(config.upstreams[0].fail_timeout == Duration{10'000});
  CHECK(config.routes[0].name == "/");
}

TEST_CASE("config load: the top level with an unknown key, no routes, or not a map") {
  check_errors(kTopLevelErrors);
}

TEST_CASE("config load: names a route gives must be defined, and no route may repeat another") {
  check_errors(kCrossReferenceErrors);
}

TEST_CASE("config load: a cache zone with errors still counts for the routes naming it") {
  auto result = load_config_from_string(R"(caches:
  main:
    path: var/cache
    policy: fifo
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - {prefix: /a/, upstream: app, cache: main}
  - {prefix: /b/, upstream: app, cache: {zone: main, ttl: 1s, query: none}}
)", "zones.yaml");
  check_all_errors(result, {
      "zones.yaml:4:13: caches.main.policy: unknown policy \"fifo\" (lru, s3fifo, sieve)",
      "zones.yaml:8:70: routes[1].cache.query: unknown value \"none\" (expected one of: keep, "
      "sorted, ignore)",
  });
}

TEST_CASE("config load: every error in a file is reported, in file order") {
  auto result = load_config_from_string(R"(workers: 0
limits: {body_bytes: lots}
timeouts:
  keepalive: 1y
upstreams:
  app:
    instances: ["127.0.0.1"]
    colour: blue
routes:
  - prefix: /
    upstream: nowhere
  - path: /x/{a}{b}
    upstream: app
)", "many.yaml");
  check_all_errors(result, {
      "many.yaml:1:10: workers: 0 is out of range (1..256)",
      "many.yaml:2:22: limits.body_bytes: invalid size \"lots\" (e.g. 512, 16KiB, 10MiB)",
      "many.yaml:4:14: timeouts.keepalive: invalid duration \"1y\" (e.g. 500ms, 10s, 1m30s)",
      "many.yaml:7:17: upstreams.app.instances[0]: invalid address \"127.0.0.1\" "
      "(expected host:port or [ipv6]:port, port 1-65535)",
      "many.yaml:8:5: unknown key \"colour\" in upstreams.app",
      "many.yaml:11:15: routes[0].upstream: unknown upstream \"nowhere\"",
      "many.yaml:12:11: routes[1].path: path \"/x/{a}{b}\": parameter \"{a}{b}\" must be a whole "
      "segment",
  });
}

TEST_CASE("config load: a YAML syntax error has a line and column") {
  auto result = load_config_from_string(R"(upstreams:
  app: {instances: ["127.0.0.1:9001"]}
routes: [{prefix: /, upstream: app}
workers: 2
)", "broken.yaml");
  CHECK(result.config == nullptr);
  REQUIRE(result.errors.size() == 1);
  const auto& e = result.errors[0];
  CHECK(e.line == 4);
  CHECK(e.column > 0);
  CHECK(e.message.find("YAML syntax error") != std::string::npos);
  CHECK(e.to_string().rfind("broken.yaml:4:", 0) == 0);
}

TEST_CASE("config load: a bad indentation is a syntax error on its line") {
  auto result = load_config_from_string("workers: 2\n  listen: x\n", "indent.yaml");
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].line == 2);
  CHECK(result.errors[0].column == 9);
}

TEST_CASE("config load: an empty file lacks routes") {
  auto result = load_config_from_string("", "empty.yaml");
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].message.find("missing required key \"routes\"") != std::string::npos);
}

TEST_CASE("config load: a missing file is one error without a line") {
  TempDir dir;
  std::string path = (dir.path() / "nope.yaml").string();
  auto result = load_config(path);
  CHECK(result.config == nullptr);
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].file == path);
  CHECK(result.errors[0].line == 0);
  CHECK(result.errors[0].message.find("No such file") != std::string::npos);
  CHECK(result.errors[0].to_string() == path + ": " + result.errors[0].message);
}

TEST_CASE("config load: a directory is not a config file") {
  TempDir dir;
  auto result = load_config(dir.path().string());
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].line == 0);
  CHECK(result.errors[0].message == "cannot read configuration: is a directory");
}

TEST_CASE("config load: errors from a file name that file") {
  TempDir dir;
  fs::path file = dir.write("bad.yaml", "routes: []\n");
  auto result = load_config(file.string());
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].to_string() ==
        file.string() + ":1:9: routes: must list at least one route");
}

TEST_CASE("config load: ConfigError::to_string") {
  CHECK(ConfigError{"a.yaml", 3, 7, "boom"}.to_string() == "a.yaml:3:7: boom");
  CHECK(ConfigError{"a.yaml", 0, 0, "boom"}.to_string() == "a.yaml: boom");
}
