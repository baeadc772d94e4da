// The configuration of the cache: zones (where and how much is stored, the
// optional shared Redis tier) and the rules a route caches by. Plain values,
// filled by the server's YAML loader and read by the cache library.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/units.hpp"
#include "cache/admission.hpp"
#include "cache/eviction.hpp"

namespace gateway::cache {

// A zone's shared tier (`redis:`): one Redis for a fleet of gateways, the
// master that Sentinels name, or a Redis Cluster.
struct RedisConfig {
  std::optional<Endpoint> address;        // host:port ...
  std::string unix_socket;                // ... or a Unix socket path (absolute) ...
  std::vector<Endpoint> sentinels;        // ... or the master these Sentinels name (issue 12) ...
  std::string master_name;                // ... as master_name (issue 12)
  std::vector<Endpoint> cluster;          // ... or a Redis Cluster's seed nodes (issue 12)
  Duration timeout{50};                   // a request never waits on Redis longer
  Duration connect_timeout{200};
  Duration lock_timeout{2'000};           // fleet single flight: how long others wait for the filler
  std::uint64_t max_entry_bytes = 1 << 20;  // larger entries stay local
  std::string key_prefix = "gw:";         // all keys, and the pub/sub channel prefix+"events"
};

// Heuristic freshness (RFC 9111 4.2.2), a zone's `heuristic:`: a response
// without explicit freshness, whose status is heuristically cacheable (or
// that says public), and that no route TTL covers, is fresh for `fraction`
// of the time between its Last-Modified and its Date, at most `max`. Off
// unless the zone turns it on.
struct HeuristicConfig {
  bool enabled = false;
  double fraction = 0.1;  // RFC 9111 4.2.2's "typical setting": 10%
  Duration max{86'400'000};
};

// A cache zone (`caches:`): where and how much is stored.
struct ZoneConfig {
  std::string name;
  std::string path;                          // absolute; relative paths resolve against the config file
  std::uint64_t max_size = 1ull << 30;       // bytes on disk
  std::uint64_t memory = 64ull << 20;        // RAM tier for small hot entries
  std::uint64_t memory_entry_max = 64 << 10; // entries up to this size may live in RAM
  PolicySpec policy;                         // `policy:`, e.g. "s3fifo:small=5%:promote=2"
  AdmissionSpec admission;                   // `admission:` none | min_uses:N | tinylfu
  Duration inactive{600'000};                // entries unused this long are removed
  std::string tags_header = "Surrogate-Key"; // response header listing purge tags
  std::optional<RedisConfig> redis;          // the fleet's shared tier
  HeuristicConfig heuristic;
  int line = 0;
};

// When a stale entry may be served instead of an error (`use_stale`, nginx's
// proxy_cache_use_stale): a connection error, a timeout, another request
// updating the entry, or one of these statuses from the instance.
enum class StaleIf : std::uint8_t { error, timeout, updating, http_500, http_502, http_503, http_504 };

// A set of StaleIf conditions.
class StaleIfSet {
 public:
  void add(StaleIf c) noexcept { bits_ |= bit(c); }
  bool has(StaleIf c) const noexcept { return (bits_ & bit(c)) != 0; }
  bool empty() const noexcept { return bits_ == 0; }

 private:
  static constexpr std::uint8_t bit(StaleIf c) noexcept { return static_cast<std::uint8_t>(1u << static_cast<unsigned>(c)); }
  std::uint8_t bits_ = 0;
};

// RFC 9213 3: the targeted field for CDNs, which a gateway in front of a
// fleet is. (A function, not a braced initializer: g++ 12 fails on the
// latter when a RuleConfig is built from `{}`.)
inline std::vector<std::string> default_targeted_fields() { return {"CDN-Cache-Control"}; }

// A route's `cache:` block: how its responses are cached.
struct RuleConfig {
  std::string zone;
  std::size_t zone_index = 0;   // into the zones, resolved at load
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
  StaleIfSet use_stale;
  Duration lock_timeout{5'000};  // a waiter on another request's fill gives up after this
  std::size_t lock_max_waiters = 10'000;
  Duration background_update_timeout{30'000};
  // RFC 9213: response fields targeted at this cache, in order; the first
  // present with a valid value replaces Cache-Control (and Expires) for
  // what this cache stores and for how long. Sent downstream unchanged.
  std::vector<std::string> targeted_fields = default_targeted_fields();
  // A Range miss fills the whole object and answers the range from it; an
  // object larger than this is not filled for a Range request: the request
  // goes upstream with its Range (nginx's slice territory).
  std::uint64_t range_fill_max = 64ull << 20;
  // The zone's heuristic, copied here when the zone's name is resolved.
  HeuristicConfig heuristic;
};

}  // namespace gateway::cache
