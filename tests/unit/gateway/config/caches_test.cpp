// Tests for the `caches:` section (gateway/config/caches.cpp): each zone's
// directory, sizes and policy, and its shared Redis tier; zones that would
// share a directory or mix their keys on one Redis.
#include "gateway/config.hpp"

#include <doctest/doctest.h>

#include "config_check.hpp"

using namespace gateway;
using namespace gateway::config::testing;

namespace {

constexpr ErrorCase kZoneErrors[] = {
    {"caches as a list", R"(caches: [main]
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 1, 9, "caches: expected a map, got a list"},

    {"a cache zone that is not a map", R"(caches:
  main: var/cache
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 2, 9, "caches.main: expected a map, got \"var/cache\""},

    {"unknown key in a cache zone", R"(caches:
  main:
    path: var/cache
    maxsize: 1GiB
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 4, 5, "unknown key \"maxsize\" in caches.main"},

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
)", 4, 13, "caches.main.policy: unknown policy \"lfu\" (lru, s3fifo, sieve)"},

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
};

constexpr ErrorCase kZonePathErrors[] = {
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
};

constexpr ErrorCase kRedisErrors[] = {
    {"unknown key in redis", R"(caches:
  main:
    path: var/cache
    redis:
      address: "127.0.0.1:6379"
      prefix: "gw:"
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 6, 7, "unknown key \"prefix\" in caches.main.redis"},

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
)", 4, 12, "caches.main.redis: missing required key \"address\", \"unix\", \"sentinels\" or \"cluster\""},

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
};

// Two zones on one Redis whose keys would mix.
constexpr ErrorCase kSharedRedisErrors[] = {
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
};

// Zones used by no route are fine: each test's route uses none.
constexpr const char* kNoRoutesUsingThem = R"(upstreams: {app: {instances: ["127.0.0.1:1"]}}
routes: [{prefix: /, upstream: app}]
)";

}  // namespace

TEST_CASE("config caches: a zone's sizes, policy and purge-tag header") {
  auto config = load_ok(std::string(R"(caches:
  main:
    path: var/cache
    max_size: 2GiB
    memory: 32MiB
    memory_entry_max: 16KiB
    policy: lru
    inactive: 1h
    tags_header: Cache-Tag
)") + kNoRoutesUsingThem);
  REQUIRE(config->caches.size() == 1);
  const auto& main_zone = config->caches[0];
  CHECK(main_zone.name == "main");
  CHECK(main_zone.line == 2);
  CHECK(main_zone.max_size == 2ull << 30);
  CHECK(main_zone.memory == 32ull << 20);
  CHECK(main_zone.memory_entry_max == 16 << 10);
  CHECK(main_zone.policy.kind == cache::PolicyKind::lru);
  CHECK(main_zone.inactive == Duration{3'600'000});
  CHECK(main_zone.tags_header == "Cache-Tag");
}

TEST_CASE("config caches: a zone given only its path gets the defaults") {
  auto config = load_ok(std::string(R"(caches:
  main: {path: var/cache}
  small.zone-2: {path: /srv/cache/small}
)") + kNoRoutesUsingThem);
  REQUIRE(config->caches.size() == 2);
  const auto& small = config->caches[1];
  CHECK(small.name == "small.zone-2");
  CHECK(small.line == 3);
  CHECK(small.path == "/srv/cache/small");
  CHECK(small.max_size == 1ull << 30);
  CHECK(small.memory == 64ull << 20);
  CHECK(small.memory_entry_max == 64 << 10);
  CHECK(small.policy.kind == cache::PolicyKind::s3fifo);
  CHECK(small.inactive == Duration{600'000});
  CHECK(small.tags_header == "Surrogate-Key");
}

TEST_CASE("config caches: zone paths are absolute, normal, from the configuration's directory") {
  auto config = load_ok(std::string(R"(caches:
  a: {path: var/cache/a}
  b: {path: /var/cache/b}
  c: {path: ../c/}
  d: {path: d}
  ab: {path: var/cache/ab}
  main: {path: var/../var/main/}
)") + kNoRoutesUsingThem, "/etc/gateway/gw.yaml");
  const auto& caches = config->caches;
  REQUIRE(caches.size() == 6);
  CHECK(caches[0].path == "/etc/gateway/var/cache/a");
  CHECK(caches[1].path == "/var/cache/b");
  CHECK(caches[2].path == "/etc/c");
  CHECK(caches[3].path == "/etc/gateway/d");
  CHECK(caches[4].path == "/etc/gateway/var/cache/ab");  // a sibling of a, not inside it
  CHECK(caches[5].path == "/etc/gateway/var/main");       // no trailing '/'
}

TEST_CASE("config caches: memory 0 turns the RAM tier off, the default entry limit shrinks to fit") {
  auto config = load_ok(std::string(R"(caches:
  b: {path: /var/cache/b, memory: 0}
  c: {path: ../c/, memory: 32KiB}
  d: {path: d, memory: 1MiB, memory_entry_max: 1MiB}
)") + kNoRoutesUsingThem);
  const auto& caches = config->caches;
  REQUIRE(caches.size() == 3);
  CHECK(caches[0].memory == 0);
  CHECK(caches[0].memory_entry_max == 0);
  CHECK(caches[1].memory_entry_max == 32 << 10);
  CHECK(caches[2].memory_entry_max == 1 << 20);  // equal to memory is fine
}

TEST_CASE("config caches: a zone's Redis tier with every option") {
  auto config = load_ok(std::string(R"(caches:
  full:
    path: var/cache/full
    redis:
      address: "Redis.internal:6380"
      timeout: 20ms
      connect_timeout: 1s
      lock_timeout: 3s
      max_entry_bytes: 256KiB
      key_prefix: "gw:full:"
)") + kNoRoutesUsingThem);
  REQUIRE(config->caches[0].redis.has_value());
  const auto& full = *config->caches[0].redis;
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
}

TEST_CASE("config caches: Redis as DESIGN's one-line map, or an address alone, gets the defaults") {
  auto config = load_ok(std::string(R"(caches:
  design: {path: var/cache/design, redis: {address: "127.0.0.1:6379", key_prefix: "gw:d:"}}
  short: {path: var/cache/short, redis: "[::1]:6379"}
  local: {path: var/cache/local}
)") + kNoRoutesUsingThem);
  const auto& caches = config->caches;
  REQUIRE(caches.size() == 3);
  REQUIRE(caches[0].redis.has_value());
  CHECK(caches[0].redis->address->port == 6379);
  CHECK(caches[0].redis->key_prefix == "gw:d:");

  REQUIRE(caches[1].redis.has_value());
  const auto& short_form = *caches[1].redis;
  REQUIRE(short_form.address.has_value());
  CHECK(short_form.address->host == "::1");
  CHECK(short_form.address->port == 6379);
  const cache::RedisConfig defaults;
  CHECK(short_form.timeout == defaults.timeout);
  CHECK(short_form.timeout == Duration{50});
  CHECK(short_form.connect_timeout == Duration{200});
  CHECK(short_form.lock_timeout == Duration{2'000});
  CHECK(short_form.max_entry_bytes == 1 << 20);
  CHECK(short_form.key_prefix == "gw:");

  CHECK_FALSE(caches[2].redis.has_value());  // no redis: local only
}

TEST_CASE("config caches: Redis on a Unix socket, relative to the configuration's directory") {
  auto config = load_ok(std::string(R"(caches:
  relative: {path: var/cache/relative, redis: {unix: run/../redis.sock}}
  absolute: {path: var/cache/absolute, redis: {unix: /run/redis/redis.sock}}
)") + kNoRoutesUsingThem, "/etc/gateway/gw.yaml");
  const auto& caches = config->caches;
  REQUIRE(caches[0].redis.has_value());
  CHECK_FALSE(caches[0].redis->address.has_value());
  CHECK(caches[0].redis->unix_socket == "/etc/gateway/redis.sock");
  CHECK(caches[1].redis->unix_socket == "/run/redis/redis.sock");
}

TEST_CASE("config caches: zones on different Redis servers may share a key_prefix") {
  auto config = load_ok(std::string(R"(caches:
  full: {path: var/cache/full, redis: {address: "Redis.internal:6380", key_prefix: "gw:full:"}}
  short: {path: var/cache/short, redis: "[::1]:6379"}
  relative: {path: var/cache/relative, redis: {unix: run/../redis.sock}}
  absolute: {path: var/cache/absolute, redis: {unix: /run/redis/redis.sock}}
  other: {path: var/cache/other, redis: {address: "redis.internal:6379", key_prefix: "gw:full:"}}
)") + kNoRoutesUsingThem);
  const auto& caches = config->caches;
  REQUIRE(caches.size() == 5);
  CHECK(caches[2].redis->key_prefix == "gw:");  // another socket: the same prefix is fine
  CHECK(caches[3].redis->key_prefix == "gw:");
  // The same prefix on another port is another Redis.
  CHECK(caches[4].redis->address->port == 6379);
  CHECK(caches[4].redis->key_prefix == "gw:full:");
}

TEST_CASE("config caches: a cache zone: each mistake at the node at fault") {
  check_errors(kZoneErrors);
}

TEST_CASE("config caches: zones sharing a directory, or one inside another") {
  check_errors(kZonePathErrors);
}

TEST_CASE("config caches: a zone's Redis tier: each mistake at the node at fault") {
  check_errors(kRedisErrors);
}

TEST_CASE("config caches: zones on one Redis whose keys would mix") {
  check_errors(kSharedRedisErrors);
}
