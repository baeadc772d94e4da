// The gateway's configuration: one YAML file parsed once into plain, validated
// structs. A Config is immutable once loaded and shared as
// shared_ptr<const Config>; SIGHUP builds a new one and swaps it in.
//
// Loading never throws for bad input: every problem becomes a ConfigError
// carrying file:line:column, and all of them are reported together.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace gateway {

using Duration = std::chrono::milliseconds;

struct ConfigError {
  std::string file;
  int line = 0;    // 1-based
  int column = 0;  // 1-based
  std::string message;
  std::string to_string() const;  // "file:line:col: message"
};

// "host:port" as given, and its parts. IPv6 literals are written "[::1]:8080".
struct Endpoint {
  std::string text;
  std::string host;
  std::uint16_t port = 0;
};

struct Limits {
  std::size_t header_bytes = 16 * 1024;
  std::size_t uri_bytes = 8 * 1024;
  std::uint64_t body_bytes = 10 * 1024 * 1024;
  std::size_t headers = 100;
};

struct Timeouts {
  Duration client_header{10'000};
  Duration client_body{30'000};
  Duration keepalive{60'000};
  Duration upstream_connect{1'000};
  Duration upstream_read{30'000};
  Duration upstream_send{30'000};
  Duration client_send{60'000};  // a client that reads nothing for this long is dropped
  Duration shutdown{10'000};  // SIGTERM drain deadline
};

enum class Balance { round_robin, weighted, least_conn, hash };

struct InstanceConfig {
  Endpoint address;
  int weight = 1;
};

struct HealthCheckConfig {
  std::string path = "/health";
  Duration interval{2'000};
  Duration timeout{1'000};
  int passes = 1;  // consecutive successes to mark up
  int fails = 2;   // consecutive failures to mark down
};

struct UpstreamConfig {
  std::string name;
  Balance balance = Balance::round_robin;
  std::vector<InstanceConfig> instances;
  int keepalive = 32;        // idle connections kept per worker per instance
  int retries = 1;           // extra tries on another instance
  int max_fails = 1;         // passive health: failures in a row ...
  Duration fail_timeout{10'000};  // ... take the instance out this long
  std::optional<HealthCheckConfig> health;
};

// A zone's shared tier (`redis:`): one Redis for a fleet of gateways.
struct RedisConfig {
  std::optional<Endpoint> address;        // host:port ...
  std::string unix_socket;                // ... or a Unix socket path (absolute)
  Duration timeout{50};                   // a request never waits on Redis longer
  Duration connect_timeout{200};
  Duration lock_timeout{2'000};           // fleet single flight: how long others wait for the filler
  std::uint64_t max_entry_bytes = 1 << 20;  // larger entries stay local
  std::string key_prefix = "gw:";         // all keys, and the pub/sub channel prefix+"events"
};

// A cache zone (`caches:`): where and how much is stored.
struct CacheZoneConfig {
  std::string name;
  std::string path;                          // absolute; relative paths resolve against the config file
  std::uint64_t max_size = 1ull << 30;       // bytes on disk
  std::uint64_t memory = 64ull << 20;        // RAM tier for small hot entries
  std::uint64_t memory_entry_max = 64 << 10; // entries up to this size may live in RAM
  std::string policy = "s3fifo";             // lru | s3fifo
  Duration inactive{600'000};                // entries unused this long are removed
  std::string tags_header = "Surrogate-Key"; // response header listing purge tags
  std::optional<RedisConfig> redis;          // the fleet's shared tier
  int line = 0;
};

// A route's `cache:` block: how its responses are cached.
struct CacheRuleConfig {
  std::string zone;
  std::size_t zone_index = 0;   // into Config::caches, resolved at load
  Duration ttl{0};              // when the response gives no freshness (0: not cached)
  // Per-status TTLs, like nginx's proxy_cache_valid: `valid: {200: 10s, 404: 1s}`.
  std::vector<std::pair<int, Duration>> valid;
  bool override = false;        // route TTLs win over Cache-Control/Expires
  enum class Query { keep, sorted, ignore };
  Query query = Query::keep;    // the query string in the key
  std::vector<std::string> key_headers;  // request headers added to the key
  std::vector<std::string> key_cookies;  // request cookies added to the key
  std::vector<std::string> bypass_headers;  // present and not "" / "0": skip the cache
  std::vector<std::string> bypass_cookies;
  bool store_set_cookie = false;  // store responses with Set-Cookie (the cookie itself is never stored)
  bool honor_client_no_cache = false;  // request no-cache / max-age=0 force revalidation
  std::vector<std::string> use_stale;  // error | timeout | updating | http_500 | http_502 | http_503 | http_504
  Duration lock_timeout{5'000};  // a waiter on another request's fill gives up after this
  std::size_t lock_max_waiters = 10'000;
  Duration background_update_timeout{30'000};
};

namespace page {
struct Template;  // gateway/compose/template.hpp
}

// A route's `page:` block: an HTML template whose includes are fetched in
// parallel through the routes and stitched in order.
struct PageConfig {
  std::string template_path;  // absolute; relative paths resolve against the config file
  std::shared_ptr<const page::Template> parsed;  // parsed at load: errors are config errors
  Duration timeout{2'000};    // default per-fragment timeout
  int max_depth = 3;          // nested includes in fragments
  std::size_t max_fragment_bytes = 1 << 20;
};

// One part of an `aggregate:` route.
struct AggregatePart {
  std::string key;   // the JSON key
  std::string path;  // with {params} of the route's path
  bool required = false;
  std::optional<Duration> timeout;
};

struct AggregateConfig {
  std::vector<AggregatePart> parts;  // in file order
  Duration timeout{2'000};           // default per part
  std::size_t max_part_bytes = 1 << 20;
};

struct RouteConfig {
  enum class Kind { proxy, page, aggregate };
  Kind kind = Kind::proxy;
  std::vector<std::string> hosts;  // empty: any host
  std::string prefix;              // match by longest prefix ...
  std::string path;                // ... or by a path pattern with {params}
  bool strip_prefix = false;
  std::string upstream;            // proxy: upstream group name
  std::size_t upstream_index = 0;  // index into Config::upstreams, resolved at load
  std::string name;                // for logs and metrics; defaults to prefix or path
  std::optional<CacheRuleConfig> cache;
  std::optional<PageConfig> page;            // kind page
  std::optional<AggregateConfig> aggregate;  // kind aggregate
  int line = 0;                    // where it was defined, for messages
};

struct AdminConfig {
  std::optional<Endpoint> listen;
};

struct Config {
  std::string file;  // absolute path of the file loaded
  std::vector<Endpoint> listen;
  int workers = 0;  // 0: one per core
  AdminConfig admin;
  std::string access_log = "stdout";  // stdout | off | a file path
  Limits limits;
  Timeouts timeouts;
  std::vector<CacheZoneConfig> caches;
  std::vector<UpstreamConfig> upstreams;
  std::vector<RouteConfig> routes;

  const UpstreamConfig* find_upstream(std::string_view name) const;
};

struct LoadResult {
  std::shared_ptr<const Config> config;  // null if errors is not empty
  std::vector<ConfigError> errors;
};

LoadResult load_config(const std::string& path);
// For tests: parse YAML text as if it came from `file`.
LoadResult load_config_from_string(const std::string& yaml, const std::string& file = "<string>");

}  // namespace gateway
