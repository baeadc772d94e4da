// Tests for gateway/config: a complete file parses into the expected structs,
// and each kind of mistake is reported at the exact line:column of the node at
// fault. The YAML starts right after R"( so its first line is line 1.
#include "gateway/config.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>
#include <vector>

#include "gateway/compose/template.hpp"

namespace fs = std::filesystem;
namespace cache = gateway::cache;
namespace upstreams = gateway::upstreams;
using gateway::cache::RuleConfig;
using gateway::ConfigError;
using gateway::Duration;

namespace {

std::string all_errors(const std::vector<ConfigError>& errors) {
  std::string out;
  for (const auto& e : errors) out += e.to_string() + "\n";
  return out;
}

struct ErrorCase {
  const char* name;
  const char* yaml;
  int line;
  int column;
  const char* fragment;  // must appear in the message
};

// A temporary directory removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "gw-config-test-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

  fs::path write(const std::string& name, const std::string& text) const {
    fs::path file = path_ / name;
    fs::create_directories(file.parent_path());
    std::ofstream(file) << text;
    return file;
  }

 private:
  fs::path path_;
};

constexpr const char* kComplete = R"(listen: ["127.0.0.1:8080", "[::1]:0"]
workers: 4
admin: {listen: "127.0.0.1:0"}
access_log: logs/access.log
limits: {header_bytes: 32KiB, uri_bytes: 4k, body_bytes: 1GB, headers: 50}
timeouts:
  client_header: 5s
  keepalive: 1m30s
  upstream_connect: 250ms
caches:
  main:
    path: var/../var/cache/
    max_size: 2GiB
    memory: 32MiB
    memory_entry_max: 16KiB
    policy: lru
    inactive: 1h
    tags_header: Cache-Tag
  small.zone-2: {path: /srv/cache/small}
upstreams:
  channels:
    balance: weighted
    instances:
      - "127.0.0.1:9001"
      - {address: "127.0.0.1:9003", weight: 2}
    keepalive: 16
    retries: 2
    max_fails: 3
    fail_timeout: 20s
    health: {path: /healthz, interval: 5s, timeout: 500ms, passes: 2, fails: 3}
  chat:
    instances: ["[::1]:9100"]
    fails: 0
routes:
  - prefix: /api/channels/
    upstream: channels
    strip_prefix: true
    host: [Example.COM, www.example.com]
    cache:
      zone: small.zone-2
      ttl: 10s
      valid: {200: 10s, 404: 1s, 301: 0s}
      override: true
      query: sorted
      key: {headers: [Accept-Language, X-Tenant], cookies: [session]}
      bypass: {headers: X-No-Cache, cookies: [nocache, NoCache]}
      store_set_cookie: true
      honor_client_no_cache: true
      use_stale: [error, timeout, updating, http_500, http_502, http_503, http_504]
      lock_timeout: 2s
      lock_max_waiters: 50
      background_update_timeout: 45s
  - path: /api/chat/{id}/messages/{page}
    upstream: chat
    name: chat-messages
    cache: main
  - prefix: /
    host: example.com
    upstream: channels
)";

}  // namespace

TEST_CASE("a complete file parses into the expected structs") {
  TempDir dir;
  fs::path file = dir.write("conf/gateway.yaml", kComplete);
  auto result = gateway::load_config(file.string());
  INFO(all_errors(result.errors));
  REQUIRE(result.errors.empty());
  REQUIRE(result.config != nullptr);
  const auto& config = *result.config;

  CHECK(config.file == file.string());
  REQUIRE(config.listen.size() == 2);
  CHECK(config.listen[0].text == "127.0.0.1:8080");
  CHECK(config.listen[0].host == "127.0.0.1");
  CHECK(config.listen[0].port == 8080);
  CHECK(config.listen[1].host == "::1");
  CHECK(config.listen[1].port == 0);
  CHECK(config.workers == 4);
  REQUIRE(config.admin.listen.has_value());
  CHECK(config.admin.listen->port == 0);
  // Relative to the config file's directory, not the working directory.
  CHECK(config.access_log == (dir.path() / "conf/logs/access.log").string());

  CHECK(config.limits.header_bytes == 32 * 1024);
  CHECK(config.limits.uri_bytes == 4 * 1024);
  CHECK(config.limits.body_bytes == 1'000'000'000);
  CHECK(config.limits.headers == 50);

  CHECK(config.timeouts.client_header == Duration{5'000});
  CHECK(config.timeouts.keepalive == Duration{90'000});
  CHECK(config.timeouts.upstream_connect == Duration{250});
  CHECK(config.timeouts.client_body == Duration{30'000});  // default
  CHECK(config.timeouts.shutdown == Duration{10'000});     // default

  REQUIRE(config.caches.size() == 2);
  const auto& main_zone = config.caches[0];
  CHECK(main_zone.name == "main");
  CHECK(main_zone.line == 11);
  // Absolute, relative to the config file's directory, normal, no trailing '/'.
  CHECK(main_zone.path == (dir.path() / "conf/var/cache").string());
  CHECK(main_zone.max_size == 2ull << 30);
  CHECK(main_zone.memory == 32ull << 20);
  CHECK(main_zone.memory_entry_max == 16 << 10);
  CHECK(main_zone.policy == cache::PolicyKind::lru);
  CHECK(main_zone.inactive == Duration{3'600'000});
  CHECK(main_zone.tags_header == "Cache-Tag");

  const auto& small = config.caches[1];
  CHECK(small.name == "small.zone-2");
  CHECK(small.line == 19);
  CHECK(small.path == "/srv/cache/small");
  CHECK(small.max_size == 1ull << 30);         // defaults from here on
  CHECK(small.memory == 64ull << 20);
  CHECK(small.memory_entry_max == 64 << 10);
  CHECK(small.policy == cache::PolicyKind::s3fifo);
  CHECK(small.inactive == Duration{600'000});
  CHECK(small.tags_header == "Surrogate-Key");

  REQUIRE(config.upstreams.size() == 2);
  const auto& channels = config.upstreams[0];
  CHECK(channels.name == "channels");
  CHECK(channels.balance == upstreams::Balance::weighted);
  REQUIRE(channels.instances.size() == 2);
  CHECK(channels.instances[0].address.port == 9001);
  CHECK(channels.instances[0].weight == 1);
  CHECK(channels.instances[1].address.text == "127.0.0.1:9003");
  CHECK(channels.instances[1].weight == 2);
  CHECK(channels.keepalive == 16);
  CHECK(channels.retries == 2);
  CHECK(channels.max_fails == 3);
  CHECK(channels.fail_timeout == Duration{20'000});
  REQUIRE(channels.health.has_value());
  CHECK(channels.health->path == "/healthz");
  CHECK(channels.health->interval == Duration{5'000});
  CHECK(channels.health->timeout == Duration{500});
  CHECK(channels.health->passes == 2);
  CHECK(channels.health->fails == 3);

  const auto& chat = config.upstreams[1];
  CHECK(chat.balance == upstreams::Balance::round_robin);  // default
  CHECK(chat.keepalive == 32);                  // default
  CHECK(chat.max_fails == 0);                   // through the alias `fails`
  CHECK_FALSE(chat.health.has_value());

  REQUIRE(config.routes.size() == 3);
  const auto& api = config.routes[0];
  CHECK(api.prefix == "/api/channels/");
  CHECK(api.path.empty());
  CHECK(api.strip_prefix);
  CHECK(api.hosts == std::vector<std::string>{"example.com", "www.example.com"});
  CHECK(api.upstream == "channels");
  CHECK(api.upstream_index == 0);
  CHECK(api.name == "/api/channels/");  // defaults to the prefix
  CHECK(api.line == 35);
  CHECK(api.kind == gateway::RouteConfig::Kind::proxy);
  REQUIRE(api.cache.has_value());
  const auto& rule = *api.cache;
  CHECK(rule.zone == "small.zone-2");
  CHECK(rule.zone_index == 1);
  CHECK(rule.ttl == Duration{10'000});
  const std::vector<std::pair<int, Duration>> valid = {
      {200, Duration{10'000}}, {404, Duration{1'000}}, {301, Duration{0}}};
  CHECK(rule.valid == valid);  // in file order
  CHECK(rule.override);
  CHECK(rule.query == cache::RuleConfig::Query::sorted);
  CHECK(rule.key_headers == std::vector<std::string>{"Accept-Language", "X-Tenant"});
  CHECK(rule.key_cookies == std::vector<std::string>{"session"});
  CHECK(rule.bypass_headers == std::vector<std::string>{"X-No-Cache"});  // one name alone
  CHECK(rule.bypass_cookies == std::vector<std::string>{"nocache", "NoCache"});  // case matters
  CHECK(rule.store_set_cookie);
  CHECK(rule.honor_client_no_cache);
  for (auto c : {cache::StaleIf::error, cache::StaleIf::timeout, cache::StaleIf::updating, cache::StaleIf::http_500,
                 cache::StaleIf::http_502, cache::StaleIf::http_503, cache::StaleIf::http_504})
    CHECK(rule.use_stale.has(c));
  CHECK(rule.lock_timeout == Duration{2'000});
  CHECK(rule.lock_max_waiters == 50);
  CHECK(rule.background_update_timeout == Duration{45'000});

  const auto& messages = config.routes[1];
  CHECK(messages.path == "/api/chat/{id}/messages/{page}");
  CHECK(messages.prefix.empty());
  CHECK_FALSE(messages.strip_prefix);
  CHECK(messages.hosts.empty());
  CHECK(messages.upstream_index == 1);
  CHECK(messages.name == "chat-messages");
  CHECK(messages.line == 53);
  // `cache: main` is the zone alone, with every other default.
  REQUIRE(messages.cache.has_value());
  const auto& plain = *messages.cache;
  CHECK(plain.zone == "main");
  CHECK(plain.zone_index == 0);
  CHECK(plain.ttl == Duration{0});
  CHECK(plain.valid.empty());
  CHECK_FALSE(plain.override);
  CHECK(plain.query == cache::RuleConfig::Query::keep);
  CHECK(plain.key_headers.empty());
  CHECK(plain.key_cookies.empty());
  CHECK(plain.bypass_headers.empty());
  CHECK(plain.bypass_cookies.empty());
  CHECK_FALSE(plain.store_set_cookie);
  CHECK_FALSE(plain.honor_client_no_cache);
  CHECK(plain.use_stale.empty());
  CHECK(plain.lock_timeout == Duration{5'000});
  CHECK(plain.lock_max_waiters == 10'000);
  CHECK(plain.background_update_timeout == Duration{30'000});

  CHECK(config.routes[2].hosts == std::vector<std::string>{"example.com"});
  CHECK(config.routes[2].upstream_index == 0);
  CHECK_FALSE(config.routes[2].cache.has_value());
}

TEST_CASE("a minimal file gets every default") {
  auto result = gateway::load_config_from_string(R"(upstreams:
  app: {instances: ["localhost:9001"]}
routes:
  - {path: /, upstream: app}
)", "/etc/gateway/gateway.yaml");
  INFO(all_errors(result.errors));
  REQUIRE(result.config != nullptr);
  const auto& config = *result.config;
  CHECK(config.file == "/etc/gateway/gateway.yaml");
  REQUIRE(config.listen.size() == 1);
  CHECK(config.listen[0].text == "127.0.0.1:8080");
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

TEST_CASE("single values and keywords where lists and numbers also fit") {
  auto result = gateway::load_config_from_string(R"(listen: "0.0.0.0:0"
workers: auto
access_log: /var/log/gateway/../access.log
upstreams:
  a.b-c_1: {instances: ["127.0.0.1:1"], keepalive: 0, retries: 0}
routes:
  - {prefix: /x, upstream: a.b-c_1, strip_prefix: false}
  - {prefix: /x, host: other.example, upstream: a.b-c_1}
)", "rel/gw.yaml");
  INFO(all_errors(result.errors));
  REQUIRE(result.config != nullptr);
  const auto& config = *result.config;
  CHECK(fs::path(config.file).is_absolute());
  CHECK(config.file == (fs::current_path() / "rel/gw.yaml").string());
  CHECK(config.listen.size() == 1);
  CHECK(config.listen[0].port == 0);
  CHECK(config.access_log == "/var/log/access.log");
  CHECK(config.upstreams[0].keepalive == 0);
  CHECK(config.routes.size() == 2);
}

TEST_CASE("cache zones: paths, the RAM tier's sizes, unused zones") {
  auto result = gateway::load_config_from_string(R"(caches:
  a: {path: var/cache/a}
  b: {path: /var/cache/b, memory: 0}
  c: {path: ../c/, memory: 32KiB}
  d: {path: d, memory: 1MiB, memory_entry_max: 1MiB}
  ab: {path: var/cache/ab}
upstreams: {app: {instances: ["127.0.0.1:1"]}}
routes:
  - {prefix: /a/, upstream: app, cache: {zone: a, ttl: 0s, valid: {200: 0}}}
  - {prefix: /d/, upstream: app, cache: d}
)", "/etc/gateway/gw.yaml");
  INFO(all_errors(result.errors));
  REQUIRE(result.config != nullptr);
  const auto& caches = result.config->caches;
  REQUIRE(caches.size() == 5);  // b, c and ab are used by no route: fine
  CHECK(caches[0].path == "/etc/gateway/var/cache/a");
  CHECK(caches[1].path == "/var/cache/b");
  CHECK(caches[2].path == "/etc/c");
  CHECK(caches[3].path == "/etc/gateway/d");
  CHECK(caches[4].path == "/etc/gateway/var/cache/ab");  // a sibling of a, not inside it
  // memory 0 turns the RAM tier off; the default entry limit shrinks to fit.
  CHECK(caches[1].memory == 0);
  CHECK(caches[1].memory_entry_max == 0);
  CHECK(caches[2].memory_entry_max == 32 << 10);
  CHECK(caches[3].memory_entry_max == 1 << 20);  // equal to memory is fine
  const auto& routes = result.config->routes;
  CHECK(routes[0].cache->zone_index == 0);
  CHECK(routes[0].cache->ttl == Duration{0});
  CHECK(routes[0].cache->valid == std::vector<std::pair<int, Duration>>{{200, Duration{0}}});
  CHECK(routes[1].cache->zone_index == 3);
}

TEST_CASE("cache zones: a shared Redis tier, in full, short, or on a Unix socket") {
  auto result = gateway::load_config_from_string(R"(caches:
  full:
    path: var/cache/full
    redis:
      address: "Redis.internal:6380"
      timeout: 20ms
      connect_timeout: 1s
      lock_timeout: 3s
      max_entry_bytes: 256KiB
      key_prefix: "gw:full:"
  design: {path: var/cache/design, redis: {address: "127.0.0.1:6379", key_prefix: "gw:d:"}}
  short: {path: var/cache/short, redis: "[::1]:6379"}
  relative: {path: var/cache/relative, redis: {unix: run/../redis.sock}}
  absolute: {path: var/cache/absolute, redis: {unix: /run/redis/redis.sock}}
  local: {path: var/cache/local}
  other: {path: var/cache/other, redis: {address: "redis.internal:6379", key_prefix: "gw:full:"}}
upstreams: {app: {instances: ["127.0.0.1:1"]}}
routes: [{prefix: /, upstream: app, cache: full}]
)", "/etc/gateway/gw.yaml");
  INFO(all_errors(result.errors));
  REQUIRE(result.config != nullptr);
  const auto& caches = result.config->caches;
  REQUIRE(caches.size() == 7);

  REQUIRE(caches[0].redis.has_value());
  const auto& full = *caches[0].redis;
  REQUIRE(full.address.has_value());
  CHECK(full.address->text == "Redis.internal:6380");
  CHECK(full.address->host == "Redis.internal");
  CHECK(full.address->port == 6380);
  CHECK(full.unix_socket.empty());
  CHECK(full.timeout == Duration{20});
  CHECK(full.connect_timeout == Duration{1'000});
  CHECK(full.lock_timeout == Duration{3'000});
  CHECK(full.max_entry_bytes == 256 << 10);
  CHECK(full.key_prefix == "gw:full:");

  // DESIGN's one-line map, and the address alone: every other key its default.
  REQUIRE(caches[1].redis.has_value());
  CHECK(caches[1].redis->address->port == 6379);
  CHECK(caches[1].redis->key_prefix == "gw:d:");
  REQUIRE(caches[2].redis.has_value());
  const auto& short_form = *caches[2].redis;
  REQUIRE(short_form.address.has_value());
  CHECK(short_form.address->host == "::1");
  CHECK(short_form.address->port == 6379);
  const gateway::cache::RedisConfig defaults;
  CHECK(short_form.timeout == defaults.timeout);
  CHECK(short_form.timeout == Duration{50});
  CHECK(short_form.connect_timeout == Duration{200});
  CHECK(short_form.lock_timeout == Duration{2'000});
  CHECK(short_form.max_entry_bytes == 1 << 20);
  CHECK(short_form.key_prefix == "gw:");

  // A socket path resolves against the config file's directory.
  REQUIRE(caches[3].redis.has_value());
  CHECK_FALSE(caches[3].redis->address.has_value());
  CHECK(caches[3].redis->unix_socket == "/etc/gateway/redis.sock");
  CHECK(caches[3].redis->key_prefix == "gw:");  // another socket: the same prefix is fine
  CHECK(caches[4].redis->unix_socket == "/run/redis/redis.sock");

  CHECK_FALSE(caches[5].redis.has_value());  // no redis: local only
  // The same prefix on another port is another Redis.
  CHECK(caches[6].redis->address->port == 6379);
  CHECK(caches[6].redis->key_prefix == "gw:full:");
}

TEST_CASE("off keeps access_log off") {
  auto result = gateway::load_config_from_string(R"(access_log: "off"
upstreams: {app: {instances: ["127.0.0.1:1"]}}
routes: [{prefix: /, upstream: app}]
)");
  INFO(all_errors(result.errors));
  REQUIRE(result.config != nullptr);
  CHECK(result.config->access_log == "off");
}

TEST_CASE("each kind of error is reported at the node at fault") {
  const ErrorCase cases[] = {
      {"unknown top-level key", R"(listen: "127.0.0.1:8080"
lisen: "127.0.0.1:8081"
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 2, 1, "unknown key \"lisen\""},

      {"unknown key in an upstream", R"(upstreams:
  app:
    instances: ["127.0.0.1:9001"]
    retires: 2
routes: [{prefix: /, upstream: app}]
)", 4, 5, "unknown key \"retires\" in upstreams.app"},

      {"unknown key in a route", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    strip: true
)", 5, 5, "unknown key \"strip\" in routes[0]"},

      {"unknown key in health", R"(upstreams:
  app:
    instances: ["127.0.0.1:9001"]
    health: {path: /h, every: 2s}
routes: [{prefix: /, upstream: app}]
)", 4, 24, "unknown key \"every\""},

      {"a map where a list is expected", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  prefix: /
  upstream: app
)", 3, 3, "routes: expected a list, got a map"},

      {"a list where a map is expected", R"(limits: [16KiB]
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 1, 9, "limits: expected a map, got a list"},

      {"a string where an integer is expected", R"(upstreams:
  app:
    instances: ["127.0.0.1:9001"]
    retries: many
routes: [{prefix: /, upstream: app}]
)", 4, 14, "upstreams.app.retries: expected an integer, got \"many\""},

      {"an empty value", R"(upstreams:
  app:
    instances: ["127.0.0.1:9001"]
    keepalive:
routes: [{prefix: /, upstream: app}]
)", 4, 5, "expected an integer, got nothing"},

      {"a bad boolean", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app, strip_prefix: yes}]
)", 2, 51, "expected true or false, got \"yes\""},

      {"a bad duration", R"(timeouts: {keepalive: 10x}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 1, 23, "timeouts.keepalive: invalid duration \"10x\""},

      {"a zero connect timeout", R"(timeouts:
  upstream_connect: 0s
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 2, 21, "at least 1ms"},

      {"a bad size", R"(limits:
  header_bytes: 16Kb
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 2, 17, "limits.header_bytes: invalid size \"16Kb\""},

      {"a bad listen address", R"(listen: ["127.0.0.1:8080", "127.0.0.1"]
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 1, 28, "listen[1]: invalid address \"127.0.0.1\""},

      {"a listen address given twice", R"(listen: ["127.0.0.1:8080", "127.0.0.1:8080"]
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 1, 28, "listed twice"},

      {"port 0 for an instance", R"(upstreams:
  app:
    instances:
      - "127.0.0.1:0"
routes: [{prefix: /, upstream: app}]
)", 4, 9, "upstreams.app.instances[0]: invalid address \"127.0.0.1:0\""},

      {"a bad admin address", R"(admin:
  listen: "localhost"
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 2, 11, "admin.listen: invalid address \"localhost\""},

      {"a duplicate top-level key", R"(workers: 2
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
workers: 4
routes: [{prefix: /, upstream: app}]
)", 3, 1, "duplicate key \"workers\" (first at line 1)"},

      {"a duplicate key in a flow map", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app, prefix: /x}]
)", 2, 37, "duplicate key \"prefix\" in routes[0]"},

      {"a duplicate upstream", R"(upstreams:
  app: {instances: ["127.0.0.1:9001"]}
  app: {instances: ["127.0.0.1:9002"]}
routes: [{prefix: /, upstream: app}]
)", 3, 3, "duplicate upstream \"app\" in upstreams (first at line 2)"},

      {"an invalid upstream name", R"(upstreams:
  "my app": {instances: ["127.0.0.1:9001"]}
routes: [{prefix: /, upstream: my app}]
)", 2, 3, "invalid upstream name \"my app\""},

      {"a duplicate route", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - {prefix: /api/, host: [a.example, B.example], upstream: app}
  - {prefix: /, upstream: app}
  - {prefix: /api/, host: [b.example, a.example], upstream: app}
)", 5, 5, "duplicate route: same host and prefix as routes[0] (line 3)"},

      {"a route naming an unknown upstream", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - {prefix: /, upstream: app}
  - prefix: /v2/
    upstream: ap
)", 5, 15, "routes[1].upstream: unknown upstream \"ap\""},

      {"a route without an upstream, page or aggregate", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - {prefix: /, upstream: app}
  - prefix: /v2/
    name: v2
)", 4, 5, "routes[1]: missing required key \"upstream\", \"page\" or \"aggregate\""},

      {"a route with neither prefix nor path", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - upstream: app
)", 3, 5, "missing required key \"prefix\" or \"path\""},

      {"a route with both prefix and path", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /a/
    path: /a/{id}
    upstream: app
)", 4, 5, "give prefix or path, not both"},

      {"strip_prefix on a path route", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /a/{id}
    strip_prefix: true
    upstream: app
)", 4, 5, "strip_prefix needs a prefix route"},

      {"a prefix not starting with a slash", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: api/, upstream: app}]
)", 2, 19, "must start with '/'"},

      {"a path pattern with a parameter inside a segment", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /channels/id-{id}
    upstream: app
)", 3, 11, "must be a whole segment"},

      {"a path pattern repeating a parameter", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /a/{id}/b/{id}
    upstream: app
)", 3, 11, "duplicate parameter \"id\""},

      {"a path pattern with a bad parameter name", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /a/{1st}
    upstream: app
)", 3, 11, "invalid parameter name \"1st\""},

      {"a file without routes", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
workers: 2
)", 1, 1, "missing required key \"routes\""},

      {"an empty route list", R"(routes: []
)", 1, 9, "routes: must list at least one route"},

      {"an empty instance list", R"(upstreams:
  app:
    instances: []
routes: [{prefix: /, upstream: app}]
)", 3, 16, "upstreams.app.instances: must list at least one instance"},

      {"an upstream without instances", R"(upstreams:
  app:
    retries: 2
routes: [{prefix: /, upstream: app}]
)", 3, 5, "upstreams.app: missing required key \"instances\""},

      {"an instance map without an address", R"(upstreams:
  app:
    instances:
      - {weight: 2}
routes: [{prefix: /, upstream: app}]
)", 4, 9, "missing required key \"address\""},

      {"a duplicate instance", R"(upstreams:
  app:
    instances:
      - "127.0.0.1:9001"
      - {address: "127.0.0.1:9001", weight: 3}
routes: [{prefix: /, upstream: app}]
)", 5, 19, "duplicate instance \"127.0.0.1:9001\" (first at line 4)"},

      {"a weight out of range", R"(upstreams:
  app:
    instances: [{address: "127.0.0.1:9001", weight: 0}]
routes: [{prefix: /, upstream: app}]
)", 3, 53, "0 is out of range (1..1000)"},

      {"too many workers", R"(workers: 300
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 1, 10, "workers: 300 is out of range (1..256)"},

      {"workers neither auto nor a number", R"(workers: lots
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 1, 10, "expected an integer, got \"lots\""},

      {"keepalive out of range", R"(upstreams:
  app:
    instances: ["127.0.0.1:9001"]
    keepalive: 10001
routes: [{prefix: /, upstream: app}]
)", 4, 16, "10001 is out of range (0..10000)"},

      {"an integer too large for any type", R"(limits: {headers: 99999999999999999999999}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 1, 19, "out of range"},

      {"a negative retry count", R"(upstreams:
  app:
    instances: ["127.0.0.1:9001"]
    retries: -1
routes: [{prefix: /, upstream: app}]
)", 4, 14, "-1 is out of range (0..100)"},

      {"max_fails and its alias together", R"(upstreams:
  app:
    instances: ["127.0.0.1:9001"]
    max_fails: 2
    fails: 3
routes: [{prefix: /, upstream: app}]
)", 5, 5, "not both"},

      {"an unknown balance", R"(upstreams:
  app:
    balance: random
    instances: ["127.0.0.1:9001"]
routes: [{prefix: /, upstream: app}]
)", 3, 14, "unknown value \"random\" (expected one of: round_robin, weighted, least_conn, hash)"},

      {"a health path without a slash", R"(upstreams:
  app:
    instances: ["127.0.0.1:9001"]
    health:
      path: health
routes: [{prefix: /, upstream: app}]
)", 5, 13, "path \"health\" must start with '/'"},

      {"a host list with a map in it", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    host: [a.example, {b: c}]
    upstream: app
)", 4, 23, "routes[0].host[1]: expected a string, got a map"},

      {"an empty string", R"(access_log: ""
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 1, 13, "access_log: must not be empty"},

      // --- cache zones (`caches:`) ---
      {"unknown key in a cache zone", R"(caches:
  main:
    path: var/cache
    maxsize: 1GiB
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 4, 5, "unknown key \"maxsize\" in caches.main"},

      {"caches as a list", R"(caches: [main]
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 1, 9, "caches: expected a map, got a list"},

      {"a cache zone that is not a map", R"(caches:
  main: var/cache
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 2, 9, "caches.main: expected a map, got \"var/cache\""},

      {"a cache zone without a path", R"(caches:
  main:
    max_size: 1GiB
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 3, 5, "caches.main: missing required key \"path\""},

      {"a bad cache size", R"(caches:
  main:
    path: var/cache
    max_size: lots
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 4, 15, "caches.main.max_size: invalid size \"lots\""},

      {"a zero max_size", R"(caches:
  main:
    path: var/cache
    max_size: 0
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 4, 15, "caches.main.max_size: size \"0\" is out of range (1.."},

      {"a bad inactive duration", R"(caches:
  main:
    path: var/cache
    inactive: 10 minutes
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 4, 15, "caches.main.inactive: invalid duration \"10 minutes\""},

      {"an unknown eviction policy", R"(caches:
  main:
    path: var/cache
    policy: lfu
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 4, 13, "caches.main.policy: unknown value \"lfu\" (expected one of: lru, s3fifo)"},

      {"a tags header that is not a header name", R"(caches:
  main:
    path: var/cache
    tags_header: Surrogate Key
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 4, 18, "caches.main.tags_header: invalid header name \"Surrogate Key\""},

      {"memory_entry_max larger than memory", R"(caches:
  main:
    path: var/cache
    memory: 1MiB
    memory_entry_max: 2MiB
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 5, 23, "caches.main.memory_entry_max: \"2MiB\" is larger than memory (1048576 bytes)"},

      {"memory_entry_max larger than the default memory", R"(caches: {main: {path: var/cache, memory_entry_max: 128MiB}}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 1, 52, "is larger than memory (67108864 bytes)"},

      {"a duplicate cache zone", R"(caches:
  main: {path: var/cache/a}
  main: {path: var/cache/b}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 3, 3, "duplicate cache zone \"main\" in caches (first at line 2)"},

      {"an invalid cache zone name", R"(caches:
  "my zone": {path: var/cache}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 2, 3, "invalid cache zone name \"my zone\""},

      {"two cache zones with one path", R"(caches:
  a: {path: var/cache}
  b: {path: ./var/cache/}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 3, 13, "caches.b.path: path \"./var/cache/\" is the path of zone \"a\" (line 2)"},

      {"a cache zone inside another", R"(caches:
  a: {path: /srv/cache}
  b: {path: /srv/cache/b}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 3, 13, "path \"/srv/cache/b\" is inside the path of zone \"a\" (line 2)"},

      {"a cache zone containing another", R"(caches:
  a: {path: /srv/cache/a}
  b: {path: /srv}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 3, 13, "path \"/srv\" contains the path of zone \"a\" (line 2)"},

      // --- a cache zone's `redis:` ---
      {"unknown key in redis", R"(caches:
  main:
    path: var/cache
    redis:
      address: "127.0.0.1:6379"
      prefix: "gw:"
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 6, 7, "unknown key \"prefix\" in caches.main.redis"},

      {"a Redis Cluster seed list", R"(caches:
  main:
    path: var/cache
    redis:
      cluster: ["10.0.0.1:6379", "10.0.0.2:6379"]
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 5, 7, "caches.main.redis: Redis Cluster is not supported yet; give one address"},

      {"both address and unix", R"(caches:
  main:
    path: var/cache
    redis:
      unix: /run/redis.sock
      address: "127.0.0.1:6379"
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 6, 7, "caches.main.redis: give address or unix, not both"},

      {"neither address nor unix", R"(caches:
  main:
    path: var/cache
    redis: {timeout: 10ms}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 4, 12, "caches.main.redis: missing required key \"address\" or \"unix\""},

      {"an empty redis", R"(caches:
  main:
    path: var/cache
    redis:
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 4, 5, "caches.main.redis: expected a map, got nothing"},

      {"a Redis address without a port", R"(caches:
  main:
    path: var/cache
    redis: {address: "127.0.0.1"}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 4, 22, "caches.main.redis.address: invalid address \"127.0.0.1\" (expected host:port"},

      {"a short Redis address without a port", R"(caches:
  main: {path: var/cache, redis: redis.internal}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 2, 34, "caches.main.redis: invalid address \"redis.internal\""},

      {"a Redis address with port 0", R"(caches:
  main: {path: var/cache, redis: "127.0.0.1:0"}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 2, 34, "port 1-65535"},

      {"a bad Redis timeout", R"(caches:
  main:
    path: var/cache
    redis: {address: "127.0.0.1:6379", timeout: 50 millis}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 4, 49, "caches.main.redis.timeout: invalid duration \"50 millis\""},

      {"a zero Redis connect_timeout", R"(caches:
  main:
    path: var/cache
    redis:
      address: "127.0.0.1:6379"
      connect_timeout: 0ms
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 6, 24, "caches.main.redis.connect_timeout: duration \"0ms\" must be at least 1ms"},

      {"a zero Redis lock_timeout", R"(caches:
  main:
    path: var/cache
    redis:
      address: "127.0.0.1:6379"
      lock_timeout: 0
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 6, 21, "caches.main.redis.lock_timeout: duration \"0\" must be at least 1ms"},

      {"a zero Redis max_entry_bytes", R"(caches:
  main:
    path: var/cache
    redis:
      address: "127.0.0.1:6379"
      max_entry_bytes: 0
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 6, 24, "caches.main.redis.max_entry_bytes: size \"0\" is out of range (1..536870912 bytes)"},

      {"a Redis max_entry_bytes above Redis's limit", R"(caches:
  main:
    path: var/cache
    redis:
      address: "127.0.0.1:6379"
      max_entry_bytes: 1GiB
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 6, 24, "size \"1GiB\" is out of range (1..536870912 bytes)"},

      {"a bad Redis max_entry_bytes", R"(caches:
  main:
    path: var/cache
    redis:
      address: "127.0.0.1:6379"
      max_entry_bytes: big
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 6, 24, "caches.main.redis.max_entry_bytes: invalid size \"big\""},

      {"an empty key_prefix", R"(caches:
  main:
    path: var/cache
    redis:
      address: "127.0.0.1:6379"
      key_prefix: ""
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 6, 19, "caches.main.redis.key_prefix: must not be empty"},

      {"a key_prefix with a space", R"(caches:
  main:
    path: var/cache
    redis:
      address: "127.0.0.1:6379"
      key_prefix: "gw cache:"
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 6, 19, "key_prefix \"gw cache:\" must not contain whitespace or control characters"},

      {"a key_prefix with a control character", R"(caches:
  main:
    path: var/cache
    redis: {address: "127.0.0.1:6379", key_prefix: "gw:\t"}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 4, 52, "must not contain whitespace or control characters"},

      {"a unix socket path that names a directory", R"(caches:
  main:
    path: var/cache
    redis: {unix: run/redis/}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 4, 19, "caches.main.redis.unix: unix socket path \"run/redis/\" names a directory"},

      {"a unix socket path too long for sockaddr_un", R"(caches:
  main:
    path: var/cache
    redis:
      unix: /run/redis/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.sock
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 5, 13, "is longer than 107 bytes"},

      {"two zones on one Redis with the default key_prefix", R"(caches:
  a: {path: var/cache/a, redis: "127.0.0.1:6379"}
  b:
    path: var/cache/b
    redis: {address: "127.0.0.1:6379", timeout: 10ms}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 5, 22, "caches.b.redis.address: key_prefix \"gw:\" is the key_prefix of zone \"a\" (line 2) "
       "on the same Redis: their entries would mix"},

      {"two zones on one Redis with one key_prefix", R"(caches:
  a: {path: var/cache/a, redis: {address: "LOCALHOST:6379", key_prefix: "x:"}}
  b: {path: var/cache/b, redis: {address: "localhost:6379", key_prefix: "x:"}}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 3, 73, "caches.b.redis.key_prefix: key_prefix \"x:\" is the key_prefix of zone \"a\""},

      {"two zones on one Redis socket with one key_prefix", R"(caches:
  a: {path: var/cache/a, redis: {unix: /run/redis.sock}}
  b: {path: var/cache/b, redis: {unix: /run/../run/./redis.sock}}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 3, 40, "caches.b.redis.unix: key_prefix \"gw:\" is the key_prefix of zone \"a\""},

      {"a key_prefix inside another zone's on one Redis", R"(caches:
  a: {path: var/cache/a, redis: "127.0.0.1:6379"}
  b: {path: var/cache/b, redis: {address: "127.0.0.1:6379", key_prefix: "gw:b:"}}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 3, 73, "key_prefix \"gw:b:\" starts with the key_prefix of zone \"a\" (line 2)"},

      {"a key_prefix that starts another zone's on one Redis", R"(caches:
  a: {path: var/cache/a, redis: {address: "127.0.0.1:6379", key_prefix: "gw:a:"}}
  b: {path: var/cache/b, redis: "127.0.0.1:6379"}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 3, 33, "caches.b.redis: key_prefix \"gw:\" is the start of the key_prefix of zone \"a\""},

      // --- a route's `cache:` ---
      {"unknown key in a route's cache", R"(caches: {main: {path: var/cache}}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    cache:
      zone: main
      tll: 10s
)", 8, 7, "unknown key \"tll\" in routes[0].cache"},

      {"unknown key in a cache key", R"(caches: {main: {path: var/cache}}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    cache:
      zone: main
      key: {header: [Accept]}
)", 8, 13, "unknown key \"header\" in routes[0].cache.key"},

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

      {"a route cache without a zone", R"(caches: {main: {path: var/cache}}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    cache: {ttl: 10s}
)", 6, 12, "routes[0].cache: missing required key \"zone\""},

      {"a route cache as a list", R"(caches: {main: {path: var/cache}}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    cache: [main]
)", 6, 12, "routes[0].cache: expected a map, got a list"},

      {"a bad cache ttl", R"(caches: {main: {path: var/cache}}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    cache: {zone: main, ttl: soon}
)", 6, 30, "routes[0].cache.ttl: invalid duration \"soon\""},

      {"a status code out of range in valid", R"(caches: {main: {path: var/cache}}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    cache: {zone: main, valid: {200: 10s, 600: 1s}}
)", 6, 43, "invalid status code \"600\" in routes[0].cache.valid (100..599)"},

      {"a status code that is not a number", R"(caches: {main: {path: var/cache}}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    cache:
      zone: main
      valid:
        200: 10s
        ok: 1s
)", 10, 9, "invalid status code \"ok\""},

      {"a status code given twice in valid", R"(caches: {main: {path: var/cache}}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    cache:
      zone: main
      valid:
        200: 10s
        404: 1s
        200: 1m
)", 11, 9, "duplicate status \"200\" in routes[0].cache.valid (first at line 9)"},

      {"a status code given twice in two spellings", R"(caches: {main: {path: var/cache}}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    cache:
      zone: main
      valid:
        200: 10s
        0200: 1m
)", 10, 9, "duplicate status 200 in routes[0].cache.valid (first at line 9)"},

      {"a bad duration in valid", R"(caches: {main: {path: var/cache}}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    cache:
      zone: main
      valid: {200: forever}
)", 8, 20, "routes[0].cache.valid.200: invalid duration \"forever\""},

      {"valid as a list", R"(caches: {main: {path: var/cache}}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    cache:
      zone: main
      valid: [200, 10s]
)", 8, 14, "routes[0].cache.valid: expected a map, got a list"},

      {"an unknown query mode", R"(caches: {main: {path: var/cache}}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    cache:
      zone: main
      query: drop
)", 8, 14, "unknown value \"drop\" (expected one of: keep, sorted, ignore)"},

      {"a bad cache boolean", R"(caches: {main: {path: var/cache}}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    cache:
      zone: main
      override: yes
)", 8, 17, "routes[0].cache.override: expected true or false, got \"yes\""},

      {"an unknown use_stale condition", R"(caches: {main: {path: var/cache}}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    cache:
      zone: main
      use_stale: [error, http_404]
)", 8, 26, "routes[0].cache.use_stale[1]: unknown value \"http_404\" (expected one of: error, "
           "timeout, updating, http_500, http_502, http_503, http_504)"},

      {"a use_stale condition listed twice", R"(caches: {main: {path: var/cache}}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    cache:
      zone: main
      use_stale: [timeout, error, timeout]
)", 8, 35, "routes[0].cache.use_stale[2]: \"timeout\" is listed twice"},

      {"a key header listed twice in another case", R"(caches: {main: {path: var/cache}}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    cache:
      zone: main
      key:
        headers:
          - Accept-Language
          - accept-language
)", 11, 13, "routes[0].cache.key.headers[1]: duplicate header \"accept-language\" (first at line 10)"},

      {"a bypass cookie listed twice", R"(caches: {main: {path: var/cache}}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    cache:
      zone: main
      bypass: {cookies: [nocache, nocache]}
)", 8, 35, "routes[0].cache.bypass.cookies[1]: duplicate cookie \"nocache\" (first at line 8)"},

      {"a key header that is not a header name", R"(caches: {main: {path: var/cache}}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    cache:
      zone: main
      key: {headers: ["Accept Language"]}
)", 8, 23, "routes[0].cache.key.headers[0]: invalid header name \"Accept Language\""},

      {"a key cookie that is not a cookie name", R"(caches: {main: {path: var/cache}}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    cache:
      zone: main
      key: {cookies: [session, "a=b"]}
)", 8, 32, "routes[0].cache.key.cookies[1]: invalid cookie name \"a=b\""},

      {"bypass headers as a map", R"(caches: {main: {path: var/cache}}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    cache:
      zone: main
      bypass: {headers: {X-No-Cache: 1}}
)", 8, 25, "routes[0].cache.bypass.headers: expected a list, got a map"},

      {"no lock waiters allowed", R"(caches: {main: {path: var/cache}}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    cache:
      zone: main
      lock_max_waiters: 0
)", 8, 25, "routes[0].cache.lock_max_waiters: 0 is out of range (1..1000000)"},

      {"too many lock waiters", R"(caches: {main: {path: var/cache}}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    cache:
      zone: main
      lock_max_waiters: 1000001
)", 8, 25, "1000001 is out of range (1..1000000)"},

      {"a zero lock timeout", R"(caches: {main: {path: var/cache}}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    cache:
      zone: main
      lock_timeout: 0s
)", 8, 21, "routes[0].cache.lock_timeout: duration \"0s\" must be at least 1ms"},

      {"a document that is not a map", R"(- listen
- routes
)", 1, 1, "expected a map, got a list"},
  };

  for (const auto& c : cases) {
    const std::string name = c.name;  // CAPTURE of a char* shows the pointer
    CAPTURE(name);
    auto result = gateway::load_config_from_string(c.yaml, "test.yaml");
    INFO(all_errors(result.errors));
    CHECK(result.config == nullptr);
    REQUIRE(result.errors.size() == 1);
    const auto& e = result.errors[0];
    CHECK(e.file == "test.yaml");
    CHECK(e.line == c.line);
    CHECK(e.column == c.column);
    CHECK(e.message.find(c.fragment) != std::string::npos);
  }
}

// Page routes read their template at load: the files below sit next to the
// configuration, which names them relative to its own directory.
constexpr const char* kChannelTemplate = R"(<html><body>
<!--# include virtual="/fragments/channel/{id}" -->
<esi:include src="/fragments/chat/{id}" alt="/fragments/chat-fallback/{id}" onerror="continue"/>
</body></html>
)";

TEST_CASE("page routes: the template is read and parsed at load") {
  TempDir dir;
  dir.write("conf/pages/channel.html", kChannelTemplate);
  fs::path footer = dir.write("static/footer.html", "<footer><!--# include virtual=\"/f/footer\" --></footer>\n");
  fs::path file = dir.write("conf/gateway.yaml", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /fragments/
    upstream: app
  - path: /channels/{id}
    page:
      template: pages/channel.html
      timeout: 500ms
      max_depth: 0
      max_fragment_bytes: 64KiB
  - path: /short/{id}
    page: pages/../pages/channel.html
    name: short
  - prefix: /static/
    page: {template: )" + footer.string() + R"(}
)");
  auto result = gateway::load_config(file.string());
  INFO(all_errors(result.errors));
  REQUIRE(result.errors.empty());
  const auto& routes = result.config->routes;
  REQUIRE(routes.size() == 4);
  const std::string channel_path = (dir.path() / "conf/pages/channel.html").string();

  CHECK(routes[0].kind == gateway::RouteConfig::Kind::proxy);
  CHECK_FALSE(routes[0].page.has_value());
  CHECK_FALSE(routes[0].aggregate.has_value());

  const auto& full = routes[1];
  CHECK(full.kind == gateway::RouteConfig::Kind::page);
  CHECK(full.upstream.empty());
  CHECK_FALSE(full.cache.has_value());
  CHECK_FALSE(full.aggregate.has_value());
  CHECK(full.name == "/channels/{id}");
  REQUIRE(full.page.has_value());
  CHECK(full.page->template_path == channel_path);  // absolute, relative to the config's directory
  CHECK(full.page->timeout == Duration{500});
  CHECK(full.page->max_depth == 0);
  CHECK(full.page->max_fragment_bytes == 64 * 1024);
  REQUIRE(full.page->parsed != nullptr);
  const auto& tpl = *full.page->parsed;
  REQUIRE(tpl.includes() == 2);
  std::vector<const gateway::page::Include*> includes;
  for (const auto& segment : tpl.segments) {
    if (segment.include) includes.push_back(&*segment.include);
  }
  REQUIRE(includes.size() == 2);
  CHECK(includes[0]->src == "/fragments/channel/{id}");
  CHECK(includes[0]->line == 2);
  CHECK(includes[1]->src == "/fragments/chat/{id}");
  CHECK(includes[1]->alt == "/fragments/chat-fallback/{id}");
  CHECK(includes[1]->line == 3);

  // `page: FILE` is the template alone, with every other default.
  const auto& shorthand = routes[2];
  CHECK(shorthand.kind == gateway::RouteConfig::Kind::page);
  CHECK(shorthand.name == "short");
  REQUIRE(shorthand.page.has_value());
  CHECK(shorthand.page->template_path == channel_path);  // normal
  CHECK(shorthand.page->timeout == Duration{2'000});
  CHECK(shorthand.page->max_depth == 3);
  CHECK(shorthand.page->max_fragment_bytes == 1 << 20);
  REQUIRE(shorthand.page->parsed != nullptr);
  CHECK(shorthand.page->parsed->includes() == 2);

  // A prefix route may be a page whose includes use no parameters.
  const auto& prefixed = routes[3];
  CHECK(prefixed.kind == gateway::RouteConfig::Kind::page);
  CHECK(prefixed.prefix == "/static/");
  CHECK(prefixed.page->template_path == footer.string());
  REQUIRE(prefixed.page->parsed != nullptr);
  CHECK(prefixed.page->parsed->includes() == 1);
}

TEST_CASE("aggregate routes: parts alone, or parts with options") {
  auto result = gateway::load_config_from_string(R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - {prefix: /api/, upstream: app}
  - path: /api/summary/{id}
    aggregate:
      channel: "/api/channels/{id}"
      chat: {path: "/api/chat/{id}?limit=10", required: true, timeout: 500ms}
  - path: /api/summary2/{id}/{lang}
    aggregate:
      parts:
        channel: "/api/channels/{id}"
        chat: {path: "/api/chat/{id}/{lang}", required: false}
      timeout: 1s
      max_part_bytes: 256KiB
  - prefix: /front/
    aggregate: {trending: /api/trending, timeout: /api/timeouts}
)", "/etc/gateway/gw.yaml");
  INFO(all_errors(result.errors));
  REQUIRE(result.errors.empty());
  const auto& routes = result.config->routes;
  REQUIRE(routes.size() == 4);

  const auto& summary = routes[1];
  CHECK(summary.kind == gateway::RouteConfig::Kind::aggregate);
  CHECK(summary.upstream.empty());
  CHECK_FALSE(summary.page.has_value());
  REQUIRE(summary.aggregate.has_value());
  CHECK(summary.aggregate->timeout == Duration{2'000});  // defaults
  CHECK(summary.aggregate->max_part_bytes == 1 << 20);
  const auto& parts = summary.aggregate->parts;
  REQUIRE(parts.size() == 2);  // in file order
  CHECK(parts[0].key == "channel");
  CHECK(parts[0].path == "/api/channels/{id}");
  CHECK_FALSE(parts[0].required);
  CHECK_FALSE(parts[0].timeout.has_value());
  CHECK(parts[1].key == "chat");
  CHECK(parts[1].path == "/api/chat/{id}?limit=10");
  CHECK(parts[1].required);
  CHECK(parts[1].timeout == Duration{500});

  const auto& summary2 = routes[2];
  CHECK(summary2.kind == gateway::RouteConfig::Kind::aggregate);
  REQUIRE(summary2.aggregate.has_value());
  CHECK(summary2.aggregate->timeout == Duration{1'000});
  CHECK(summary2.aggregate->max_part_bytes == 256 * 1024);
  const auto& parts2 = summary2.aggregate->parts;
  REQUIRE(parts2.size() == 2);
  CHECK(parts2[0].key == "channel");
  CHECK(parts2[1].key == "chat");
  CHECK(parts2[1].path == "/api/chat/{id}/{lang}");
  CHECK_FALSE(parts2[1].required);

  // Without `parts:`, every key is a part, even one named like an option.
  const auto& front = routes[3];
  CHECK(front.prefix == "/front/");
  REQUIRE(front.aggregate.has_value());
  REQUIRE(front.aggregate->parts.size() == 2);
  CHECK(front.aggregate->parts[1].key == "timeout");
  CHECK(front.aggregate->parts[1].path == "/api/timeouts");
  CHECK(front.aggregate->timeout == Duration{2'000});
}

namespace {

// Templates for the cases below; each case's YAML is written to gw.yaml next
// to them. `file` is where the error must be: gw.yaml or a template.
struct FileErrorCase {
  const char* name;
  const char* yaml;
  const char* file;
  int line;
  int column;
  const char* fragment;
};

void write_templates(const TempDir& dir) {
  dir.write("ok.html", "<p><!--# include virtual=\"/f/{id}\" --></p>\n");
  dir.write("static.html", "<p><!--# include virtual=\"/f/static\" --></p>\n");
  dir.write("pages/x.html", "<p>x</p>\n");
  dir.write("params.html", R"(<main>
  <esi:include src="/f/channel/{id}"/>
  <esi:include src="/f/chat/{channel}" onerror="continue"/>
</main>
)");
  dir.write("bad.html", R"(<main>
  <esi:include src="/f/{id}" colour="red"/>
</main>
)");
  dir.write("alt.html", "<esi:include src=\"/f/{id}\" alt=\"/f/alt/{lang}\"/>\n");
  dir.write("fallback.html",
            "<!--# include virtual=\"/f/{id}\" fallback=\"/f/fallback/{user}\" -->\n");
}

}  // namespace

TEST_CASE("page and aggregate routes: each kind of error at the node at fault") {
  const FileErrorCase cases[] = {
      {"upstream and page", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /channels/{id}
    upstream: app
    page: ok.html
)", "gw.yaml", 3, 5, "routes[0]: give one of upstream, page or aggregate, not upstream and page"},

      {"page and aggregate", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /channels/{id}
    page: ok.html
    aggregate: {a: /a}
)", "gw.yaml", 3, 5, "routes[0]: give one of upstream, page or aggregate, not page and aggregate"},

      {"cache on a page route", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /channels/{id}
    page: ok.html
    cache: {zone: main, ttl: 10s}
)", "gw.yaml", 5, 5, "routes[0]: cache needs an upstream, not a page route"},

      {"cache on an aggregate route", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /channels/{id}
    aggregate: {a: "/a/{id}"}
    cache: main
)", "gw.yaml", 5, 5, "routes[0]: cache needs an upstream, not an aggregate route"},

      {"strip_prefix on a page route", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /channels/
    page: static.html
    strip_prefix: true
)", "gw.yaml", 5, 5, "routes[0]: strip_prefix needs an upstream, not a page route"},

      {"a page without a template", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /channels/{id}
    page: {timeout: 1s}
)", "gw.yaml", 4, 11, "routes[0].page: missing required key \"template\""},

      {"a missing template file", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /channels/{id}
    page:
      template: nope.html
)", "gw.yaml", 5, 17,
       "routes[0].page.template: cannot read template \"nope.html\": No such file or directory"},

      {"a missing template file in the shorthand", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /channels/{id}
    page: pages/nope.html
)", "gw.yaml", 4, 11, "routes[0].page: cannot read template \"pages/nope.html\": No such file"},

      {"a template that is a directory", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /channels/{id}
    page: pages
)", "gw.yaml", 4, 11, "cannot read template \"pages\": is a directory"},

      {"an empty template name", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /channels/{id}
    page: {template: ""}
)", "gw.yaml", 4, 22, "routes[0].page.template: must not be empty"},

      {"a page nesting too deep", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /channels/{id}
    page: {template: ok.html, max_depth: 9}
)", "gw.yaml", 4, 42, "routes[0].page.max_depth: 9 is out of range (0..8)"},

      {"a zero page timeout", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /channels/{id}
    page:
      template: ok.html
      timeout: 0s
)", "gw.yaml", 6, 16, "routes[0].page.timeout: duration \"0s\" must be at least 1ms"},

      {"no fragment bytes", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /channels/{id}
    page:
      template: ok.html
      max_fragment_bytes: 0
)", "gw.yaml", 6, 27, "routes[0].page.max_fragment_bytes: size \"0\" is out of range (1.."},

      {"an unknown key in a page", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /channels/{id}
    page:
      template: ok.html
      depth: 2
)", "gw.yaml", 6, 7, "unknown key \"depth\" in routes[0].page"},

      {"a page as a list", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /channels/{id}
    page: [ok.html]
)", "gw.yaml", 4, 11, "routes[0].page: expected a map, got a list"},

      {"a template error names the template and a place in it", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /channels/{id}
    page: {template: bad.html}
)", "bad.html", 2, 30, "unknown attribute colour"},

      {"an include using a parameter the path lacks", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /channels/{id}
    page: params.html
)", "params.html", 3, 3,
       "unknown parameter \"{channel}\" in include src \"/f/chat/{channel}\" (the route's path "
       "\"/channels/{id}\" has: {id})"},

      {"an include using a parameter on a prefix route", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /channels/
    page: ok.html
)", "ok.html", 1, 4,
       "unknown parameter \"{id}\" in include src \"/f/{id}\" (a prefix route has no parameters)"},

      {"an include using a parameter on a path without any", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /channels
    page: ok.html
)", "ok.html", 1, 4, "(the route's path \"/channels\" has no parameters)"},

      {"an alt using an unknown parameter", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /channels/{id}
    page: alt.html
)", "alt.html", 1, 1, "unknown parameter \"{lang}\" in include alt \"/f/alt/{lang}\""},

      {"a fallback URL using an unknown parameter", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /channels/{id}
    page: fallback.html
)", "fallback.html", 1, 1,
       "unknown parameter \"{user}\" in include fallback \"/f/fallback/{user}\""},

      {"an aggregate without parts", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /summary/{id}
    aggregate: {}
)", "gw.yaml", 4, 16, "routes[0].aggregate: must list at least one part"},

      {"empty parts", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /summary/{id}
    aggregate:
      parts: {}
      timeout: 1s
)", "gw.yaml", 5, 14, "routes[0].aggregate.parts: must list at least one part"},

      {"a duplicate part", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /summary/{id}
    aggregate:
      chat: /api/chat/{id}
      chat: /api/chat2/{id}
)", "gw.yaml", 6, 7, "duplicate part \"chat\" in routes[0].aggregate (first at line 5)"},

      {"a duplicate part in the long form", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /summary/{id}
    aggregate:
      parts: {a: /a, b: /b, a: /c}
)", "gw.yaml", 5, 29, "duplicate part \"a\" in routes[0].aggregate.parts (first at line 5)"},

      {"an empty part key", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /summary/{id}
    aggregate:
      "": /api/x
)", "gw.yaml", 5, 7, "a part's key must not be empty in routes[0].aggregate"},

      {"a part path without a slash", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /summary/{id}
    aggregate:
      chat: api/chat/{id}
)", "gw.yaml", 5, 13, "routes[0].aggregate.chat: path \"api/chat/{id}\" must start with '/'"},

      {"a part without a path", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /summary/{id}
    aggregate:
      chat: {required: true}
)", "gw.yaml", 5, 13, "routes[0].aggregate.chat: missing required key \"path\""},

      {"a part's required not a boolean", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /summary/{id}
    aggregate:
      chat: {path: /api/chat, required: yes}
)", "gw.yaml", 5, 41, "routes[0].aggregate.chat.required: expected true or false, got \"yes\""},

      {"a part's bad timeout", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /summary/{id}
    aggregate:
      chat:
        path: /api/chat/{id}
        timeout: soon
)", "gw.yaml", 7, 18, "routes[0].aggregate.chat.timeout: invalid duration \"soon\""},

      {"an unknown key in a part", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /summary/{id}
    aggregate:
      chat: {path: /api/chat, optional: true}
)", "gw.yaml", 5, 31, "unknown key \"optional\" in routes[0].aggregate.chat"},

      {"a part as a list", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /summary/{id}
    aggregate:
      chat: [/api/chat]
)", "gw.yaml", 5, 13, "routes[0].aggregate.chat: expected a string, got a list"},

      {"a part using a parameter the path lacks", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /api/summary/{id}
    aggregate:
      chat: /api/chat/{channel}
)", "gw.yaml", 5, 13,
       "routes[0].aggregate.chat: unknown parameter \"{channel}\" in \"/api/chat/{channel}\" (the "
       "route's path \"/api/summary/{id}\" has: {id})"},

      {"a part using a parameter on a prefix route", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /summary/
    aggregate: {chat: "/api/chat/{id}"}
)", "gw.yaml", 4, 23, "(a prefix route has no parameters)"},

      {"a part's path in the long form using an unknown parameter", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /summary/{id}/{lang}
    aggregate:
      parts:
        chat: {path: "/api/chat/{id}?lang={language}", required: true}
)", "gw.yaml", 6, 22, "unknown parameter \"{language}\" in \"/api/chat/{id}?lang={language}\" "
                     "(the route's path \"/summary/{id}/{lang}\" has: {id}, {lang})"},

      {"an option among the parts of the short form", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /summary/{id}
    aggregate:
      chat: /api/chat/{id}
      timeout: 1s
)", "gw.yaml", 6, 16,
       "routes[0].aggregate.timeout: path \"1s\" must start with '/' (options of the whole "
       "aggregate go beside its parts: {parts: {...}, timeout: ...})"},

      {"an unknown key in the long form", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /summary/{id}
    aggregate:
      parts: {chat: "/api/chat/{id}"}
      retries: 1
)", "gw.yaml", 6, 7, "unknown key \"retries\" in routes[0].aggregate"},

      {"no part bytes", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /summary/{id}
    aggregate:
      parts: {chat: "/api/chat/{id}"}
      max_part_bytes: 0
)", "gw.yaml", 6, 23, "routes[0].aggregate.max_part_bytes: size \"0\" is out of range (1.."},

      {"a zero aggregate timeout", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /summary/{id}
    aggregate: {parts: {chat: "/api/chat/{id}"}, timeout: 0ms}
)", "gw.yaml", 4, 59, "routes[0].aggregate.timeout: duration \"0ms\" must be at least 1ms"},

      {"an aggregate as a string", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /summary/{id}
    aggregate: /api/summary
)", "gw.yaml", 4, 16, "routes[0].aggregate: expected a map, got \"/api/summary\""},
  };

  TempDir dir;
  write_templates(dir);
  for (const auto& c : cases) {
    CAPTURE(c.name);
    fs::path file = dir.write("gw.yaml", c.yaml);
    auto result = gateway::load_config(file.string());
    INFO(all_errors(result.errors));
    CHECK(result.config == nullptr);
    REQUIRE(result.errors.size() == 1);
    const auto& e = result.errors[0];
    CHECK(e.file == (dir.path() / c.file).string());
    CHECK(e.line == c.line);
    CHECK(e.column == c.column);
    CHECK(e.message.find(c.fragment) != std::string::npos);
  }
}

TEST_CASE("template errors come where the configuration names the template") {
  TempDir dir;
  fs::path tpl = dir.write("pages/channel.html", R"(<p>
  <esi:include src="/f/{id}" foo="1"/>
<!--# include virtual="/f/{id}" timeout="soon" -->
</p>
)");
  fs::path other = dir.write("pages/other.html", "<esi:include src=\"/f/{id}/{lang}\"/>\n");
  fs::path file = dir.write("gw.yaml", R"(workers: 0
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /channels/{id}
    page: pages/channel.html
  - path: /other/{id}
    page: {template: pages/other.html, max_depth: -1}
  - prefix: /x/
    upstream: nowhere
)");
  auto result = gateway::load_config(file.string());
  REQUIRE(result.config == nullptr);
  std::vector<std::string> got;
  for (const auto& e : result.errors) got.push_back(e.to_string());
  const std::string yaml = file.string();
  const std::vector<std::string> expected = {
      yaml + ":1:10: workers: 0 is out of range (1..256)",
      tpl.string() + ":2:30: unknown attribute foo on <esi:include>",
      tpl.string() + ":3:33: bad timeout \"soon\"",
      // The template's own errors sort by where the configuration names it.
      other.string() + ":1:1: unknown parameter \"{lang}\" in include src \"/f/{id}/{lang}\" (the "
                       "route's path \"/other/{id}\" has: {id})",
      yaml + ":7:51: routes[1].page.max_depth: -1 is out of range (0..8)",
      yaml + ":9:15: routes[2].upstream: unknown upstream \"nowhere\"",
  };
  INFO(all_errors(result.errors));
  CHECK(got == expected);
}

TEST_CASE("every error in a file is reported, in file order") {
  auto result = gateway::load_config_from_string(R"(workers: 0
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
  REQUIRE(result.config == nullptr);
  std::vector<std::string> got;
  for (const auto& e : result.errors) got.push_back(e.to_string());
  const std::vector<std::string> expected = {
      "many.yaml:1:10: workers: 0 is out of range (1..256)",
      "many.yaml:2:22: limits.body_bytes: invalid size \"lots\" (e.g. 512, 16KiB, 10MiB)",
      "many.yaml:4:14: timeouts.keepalive: invalid duration \"1y\" (e.g. 500ms, 10s, 1m30s)",
      "many.yaml:7:17: upstreams.app.instances[0]: invalid address \"127.0.0.1\" "
      "(expected host:port or [ipv6]:port, port 1-65535)",
      "many.yaml:8:5: unknown key \"colour\" in upstreams.app",
      "many.yaml:11:15: routes[0].upstream: unknown upstream \"nowhere\"",
      "many.yaml:12:11: routes[1].path: path \"/x/{a}{b}\": parameter \"{a}{b}\" must be a whole "
      "segment",
  };
  INFO(all_errors(result.errors));
  CHECK(got == expected);
}

TEST_CASE("a cache zone with errors still counts for the routes naming it") {
  auto result = gateway::load_config_from_string(R"(caches:
  main:
    path: var/cache
    policy: fifo
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - {prefix: /a/, upstream: app, cache: main}
  - {prefix: /b/, upstream: app, cache: {zone: main, ttl: 1s, query: none}}
)", "zones.yaml");
  REQUIRE(result.config == nullptr);
  std::vector<std::string> got;
  for (const auto& e : result.errors) got.push_back(e.to_string());
  const std::vector<std::string> expected = {
      "zones.yaml:4:13: caches.main.policy: unknown value \"fifo\" (expected one of: lru, s3fifo)",
      "zones.yaml:8:70: routes[1].cache.query: unknown value \"none\" (expected one of: keep, "
      "sorted, ignore)",
  };
  INFO(all_errors(result.errors));
  CHECK(got == expected);
}

TEST_CASE("a YAML syntax error has a line and column") {
  auto result = gateway::load_config_from_string(R"(upstreams:
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

TEST_CASE("a bad indentation is a syntax error on its line") {
  auto result = gateway::load_config_from_string("workers: 2\n  listen: x\n", "indent.yaml");
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].line == 2);
  CHECK(result.errors[0].column == 9);
}

TEST_CASE("an empty file lacks routes") {
  auto result = gateway::load_config_from_string("", "empty.yaml");
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].message.find("missing required key \"routes\"") != std::string::npos);
}

TEST_CASE("a missing file is one error without a line") {
  TempDir dir;
  std::string path = (dir.path() / "nope.yaml").string();
  auto result = gateway::load_config(path);
  CHECK(result.config == nullptr);
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].file == path);
  CHECK(result.errors[0].line == 0);
  CHECK(result.errors[0].message.find("No such file") != std::string::npos);
  CHECK(result.errors[0].to_string() == path + ": " + result.errors[0].message);
}

TEST_CASE("a directory is not a config file") {
  TempDir dir;
  auto result = gateway::load_config(dir.path().string());
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].line == 0);
}

TEST_CASE("errors from a file name that file") {
  TempDir dir;
  fs::path file = dir.write("bad.yaml", "routes: []\n");
  auto result = gateway::load_config(file.string());
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].to_string() ==
        file.string() + ":1:9: routes: must list at least one route");
}

TEST_CASE("ConfigError::to_string") {
  CHECK(ConfigError{"a.yaml", 3, 7, "boom"}.to_string() == "a.yaml:3:7: boom");
  CHECK(ConfigError{"a.yaml", 0, 0, "boom"}.to_string() == "a.yaml: boom");
}
