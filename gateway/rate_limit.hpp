// Rate and connection limits: nginx's limit_req and limit_conn.
//
// A route's `limit:` (or the top-level default) keeps a leaky bucket per
// key (the client's address behind trusted proxies, a request header or a
// cookie) draining at `rate`; a request adds one. Up to `burst` requests in
// excess are allowed: the first `delay` of them pass at once, the rest wait
// until the bucket has drained to `delay` (paced at the rate, on a timer: a
// worker never blocks); `nodelay` is a delay of the whole burst. Beyond the
// burst a request is refused
// (429 with Retry-After). A request without the key (no such header or
// cookie) is not limited, as nginx skips empty keys.
//
// The buckets of a route are shared by every worker: a table in shards,
// each under its own mutex, bounded by `max_keys` (the least recently used
// key goes when a new one needs room, as nginx's zone forgets its oldest
// states). `max_conns_per_client` counts open client connections per peer
// address in a process-wide table the same way.
//
// decide() is the whole algorithm (nginx's ngx_http_limit_req_lookup), a
// pure function; the tables and the request hook are around it.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/http/message.hpp"

namespace gateway {

class Downstream;
struct Config;
struct RouteStats;
struct Runtime;

namespace limit {

// A rate in thousandths of a request per second (nginx's unit: `30r/m` is
// 500). `text` is "N r/s" or "N r/m" without spaces, N from 1 to 1000000.
std::optional<std::int64_t> parse_rate(std::string_view text);

enum class KeyKind { client_ip, header, cookie };

// A route's `limit:`.
struct RateLimitConfig {
  bool off = false;        // `limit: off`: not limited, whatever the top-level default says
  std::int64_t rate = 0;   // thousandths of a request per second (parse_rate)
  std::int64_t burst = 0;  // requests in excess allowed
  bool nodelay = false;    // the burst passes at once instead of paced
  std::int64_t delay = 0;  // requests in excess passed at once before pacing starts (nginx's delay=N)
  KeyKind key = KeyKind::client_ip;
  std::string key_name;    // the header or cookie
  int status = 429;        // nginx's limit_req_status (its default is 503)
  std::size_t max_keys = 16384;  // about what nginx keeps in a 1 MiB zone
  bool operator==(const RateLimitConfig&) const = default;
};

// One key's bucket: the excess (thousandths of a request) when last
// accounted, and when (milliseconds of a monotonic clock).
struct Bucket {
  bool used = false;  // false: a key not seen yet
  std::int64_t excess = 0;
  std::int64_t last_ms = 0;
};

struct Decision {
  enum class Verdict { pass, delay, reject };
  Verdict verdict = Verdict::pass;
  std::chrono::milliseconds delay{0};  // delay: how long the request waits
  std::int64_t retry_after = 0;        // reject: seconds until one would pass (at least 1)
  bool operator==(const Decision&) const = default;
};

// A request for the bucket at `now_ms`: the bucket drains rate*elapsed
// and takes one request (1000). Over `burst` requests of excess: refused,
// the bucket unchanged. Else accounted, and delayed by the time the excess
// over `delay` requests takes to drain (none for an excess up to `delay`;
// nodelay is delay = burst). A key's first request passes with no
// excess. A clock seen going back counts as no time elapsed (more than a
// minute back: as 1 ms, as nginx).
Decision decide(Bucket& bucket, std::int64_t now_ms, std::int64_t rate, std::int64_t burst, std::int64_t delay);

// What the request is limited by: the client address, or the header's or
// cookie's value; nullopt if it has none (an empty value counts as none).
std::optional<std::string_view> request_key(const RateLimitConfig& rule, std::string_view client,
                                            const http::HeaderMap& headers);

// The buckets of one route, shared by every worker.
class RateLimiter {
 public:
  explicit RateLimiter(RateLimitConfig rule);
  const RateLimitConfig& rule() const noexcept { return rule_; }
  // decide() for `key`'s bucket now (`now_ms` on a monotonic clock).
  Decision take(std::string_view key, std::int64_t now_ms);
  std::size_t keys() const;  // buckets held, over every shard

 private:
  struct Node {
    std::string key;
    Bucket bucket;
  };
  struct Shard {
    mutable std::mutex mu;
    std::list<Node> lru;  // most recently used first
    std::unordered_map<std::string_view, std::list<Node>::iterator> index;  // views into lru's keys
  };
  RateLimitConfig rule_;
  std::size_t per_shard_;
  std::vector<Shard> shards_;
};

// The limiter of each of `config`'s routes (null: not limited): the
// route's own `limit`, else the top-level one. A route of the same name and
// rule as in `previous` keeps its buckets (a reload does not forget who was
// over the limit).
std::vector<std::shared_ptr<RateLimiter>> build_limiters(const Config& config, const Runtime* previous);

// The request hook (gateway/dispatch.cpp serve_route): whether the request
// goes on. A delayed one waits here on a timer; a refused one is answered
// (the rule's status, Retry-After, a short reason). Counted in `stats`.
boost::asio::awaitable<bool> admit(Downstream& down, RateLimiter& limiter, RouteStats& stats);

// Open client connections per peer address, for `max_conns_per_client`:
// one table for the process (every worker's listeners, across reloads).
class ClientConnections {
 public:
  static constexpr std::size_t kMaxKey = 16;  // an IPv6 address's bytes

  // Holds one connection's place until destroyed; empty if none was taken.
  // Small: a parked connection keeps it (gateway/parked.hpp).
  class Slot {
   public:
    Slot() = default;
    Slot(ClientConnections* table, std::string_view key);
    Slot(Slot&& o) noexcept : table_(std::exchange(o.table_, nullptr)), key_(o.key_), len_(o.len_) {}
    Slot& operator=(Slot&& o) noexcept;
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    ~Slot() { release(); }
    explicit operator bool() const noexcept { return table_ != nullptr; }

   private:
    void release();
    ClientConnections* table_ = nullptr;
    std::array<char, kMaxKey> key_{};
    std::uint8_t len_ = 0;
  };

  // A place for one more connection from `address` (its bytes, at most
  // kMaxKey, longer is cut), or nullopt if it has `max` open already.
  std::optional<Slot> acquire(std::string_view address, std::size_t max);
  std::size_t open(std::string_view address) const;
  static ClientConnections& process();

 private:
  static constexpr std::size_t kShards = 16;
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<std::string, std::size_t> open;
  };
  Shard& shard(std::string_view address);
  const Shard& shard(std::string_view address) const;
  void release(std::string_view key);
  std::array<Shard, kShards> shards_;
};

}  // namespace limit
}  // namespace gateway
