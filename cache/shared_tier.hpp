// The fleet's shared cache tier for one zone: Redis between the local disk
// cache and the upstream, so that many gateways act as one cache.
//
//   lookup    a local miss asks Redis (entry, and its Vary spec) before the upstream
//   fill      a stored response goes to Redis too (if small enough), with the
//             entry's remaining freshness as its expiry
//   single flight
//             the first gateway to miss a key takes a short lock (SET NX PX,
//             held as a FleetLock); the others wait for its "filled" message
//             (pub/sub) or the lock timeout, then read Redis or fetch
//             themselves. A waiter fetches at once when the connection to
//             Redis is lost meanwhile (no message can come), or when the
//             subscriber is down as it starts to wait. A frozen Redis
//             (connection open, no answers) counts as lost when a command on
//             any of the zone's connections times out.
//   purge     removes the entries from Redis and broadcasts, so every gateway
//             drops its local copies
//
// Keys (all under the configured prefix): e:<cache key>\x1e<vary key> the
// entry, v:<cache key> its Vary fields, l:<cache key> the fill lock,
// t:<tag> the entries carrying a tag; channel <prefix>events.
//
// Shared by the zone's workers; each worker talks to Redis over its own
// connection (client(worker)), the subscriber runs on the first worker.
// Redis down or slow never fails a request: every call is bounded by the
// configured timeout and then counts as a miss.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "cache/entry.hpp"
#include "cache/redis_client.hpp"
#include "cache/redis_sentinel.hpp"

namespace gateway::cache {

class SharedTier;
class Store;

// This gateway's hold on the fleet's fill lock of a key (SharedTier::lock).
// Move-only. The lock goes with the announcement of what was stored
// (fill()); a holder that ends without one announces "nothing stored" from
// its destructor, so that the fleet's waiters fetch at once rather than
// wait out the lock timeout. Used on the worker whose Redis connection it
// holds.
class FleetLock {
 public:
  FleetLock() = default;  // holds nothing
  FleetLock(FleetLock&& other) noexcept;
  FleetLock& operator=(FleetLock&& other) noexcept;
  ~FleetLock();

  bool held() const noexcept { return tier_ != nullptr; }
  // Stores the entry in the shared tier and announces it (SharedTier::fill);
  // the lock goes with the announcement.
  void fill(const EntryMeta& meta, std::string_view body, long long ttl_ms);

 private:
  friend class SharedTier;
  FleetLock(SharedTier& tier, RedisClient& client, std::string key);
  void release();

  SharedTier* tier_ = nullptr;
  RedisClient* client_ = nullptr;
  std::string key_;
};

struct SharedTierStats {
  std::atomic<std::uint64_t> hits{0};
  std::atomic<std::uint64_t> misses{0};
  std::atomic<std::uint64_t> errors{0};
  std::atomic<std::uint64_t> fills{0};
  std::atomic<std::uint64_t> lock_waits{0};
  std::atomic<std::uint64_t> lock_waits_cut{0};  // ended early: the connection to Redis was lost
  std::atomic<std::uint64_t> purges_sent{0};
  std::atomic<std::uint64_t> purges_received{0};
};

// An entry as Redis holds it: metadata and body in one value.
std::string encode_shared_entry(const EntryMeta& meta, std::string_view body);
bool decode_shared_entry(std::string_view value, EntryMeta& meta, std::string& body);

class SharedTier {
 public:
  static constexpr std::size_t kMaxWorkers = 256;

  SharedTier(const RedisConfig& config, std::string zone_name, Store& store);
  ~SharedTier();

  // The current settings (a copy: a reload may change them meanwhile).
  RedisConfig config() const;
  // A reload's settings: workers' connections and the subscriber are made
  // again with them, each the next time it is used (a worker's) or started
  // (the subscriber, start()). False if they are the current ones.
  bool reconfigure(const RedisConfig& next);
  SharedTierStats& stats() noexcept { return stats_; }

  // Starts the subscriber on `ex`, and the Sentinel watch if any (once per
  // settings: again after reconfigure()).
  void start(boost::asio::any_io_executor ex);
  // Closes and frees a worker's connection, or the subscriber, on the
  // thread that owns it (before its io_context goes).
  void release_client(std::size_t w);
  void release_subscriber();
  // The connection of worker `w` (created on first use, on that worker).
  RedisClient& client(std::size_t w, boost::asio::any_io_executor ex);

  // The entry of `key` matching the request's varied fields, if Redis has it.
  struct Found {
    EntryMeta meta;
    std::string body;
  };
  boost::asio::awaitable<std::optional<Found>> lookup(RedisClient& c, const std::string& key, const http::Request& req);
  // Stores an entry for `ttl_ms` (its remaining freshness; 0: store
  // nothing), then announces it ("filled") and releases this gateway's fill
  // lock of its key, if it holds it.
  void fill(RedisClient& c, const EntryMeta& meta, std::string_view body, long long ttl_ms);
  // Fleet single flight: the lock of `key` if this gateway may fetch it (it
  // got the lock, or Redis is unavailable); an empty FleetLock if another
  // gateway holds it.
  boost::asio::awaitable<FleetLock> lock(RedisClient& c, const std::string& key);
  // Waits until another gateway announces `key` filled, or `timeout`; false
  // on timeout, and at once (or as soon as it happens) if Redis is lost.
  boost::asio::awaitable<bool> wait_filled(const std::string& key, std::chrono::milliseconds timeout);

  // Purges in Redis, and tells the other gateways to purge locally. Returns
  // the number of Redis entries removed.
  // The entries of one URL (`target` with its query normalised as stored),
  // on `host` or any host.
  boost::asio::awaitable<std::size_t> purge_target(RedisClient& c, std::string host, std::string target);
  boost::asio::awaitable<std::size_t> purge_prefix(RedisClient& c, std::string host, std::string path);
  boost::asio::awaitable<std::size_t> purge_tag(RedisClient& c, std::string tag);

  bool up() const;  // the subscriber's connection is up

 private:
  void unlock(RedisClient& c, const std::string& key);
  boost::asio::awaitable<std::size_t> delete_matching(RedisClient& c, std::string pattern);
  void on_message(std::string_view msg);
  // A connection of the zone went up or down (RedisClient::on_state).
  void on_connection(bool subscriber, bool up);
  // Keys of the entry `key` under the client's prefix: e:, v:, l:. On a
  // cluster they carry the entry's hash tag (one slot for all three).
  static std::string entry_key(const RedisClient& c, std::string_view key, std::string_view vary_key);
  static std::string key_of(const RedisClient& c, std::string_view kind, std::string_view key);
  // The glob matching the entries' hash tag on a cluster; empty otherwise.
  static std::string_view tag_glob(const RedisClient& c);

  // A configuration and what goes with it: the Sentinel watch (if any), and
  // a generation that reconfigure() moves on.
  struct Settings {
    RedisConfig config;
    std::shared_ptr<SentinelSource> sentinels;
    std::uint64_t generation = 0;
  };
  std::shared_ptr<const Settings> settings() const;
  // A worker's connection, and the ones of earlier settings (closed, kept:
  // a request may still hold them).
  struct WorkerClient {
    std::shared_ptr<RedisClient> client;
    std::uint64_t generation = 0;
    std::vector<std::shared_ptr<RedisClient>> retired;
  };

  mutable std::mutex settings_mu_;
  std::shared_ptr<const Settings> settings_;  // guarded by settings_mu_
  std::string zone_;
  Store& store_;
  std::string instance_;
  SharedTierStats stats_;
  std::vector<WorkerClient> clients_;  // by worker; each touched by its worker only
  // On the subscriber's worker:
  std::shared_ptr<RedisClient> subscriber_;
  std::shared_ptr<const Settings> subscriber_settings_;
  std::vector<std::shared_ptr<RedisClient>> retired_subscribers_;
  mutable std::mutex waiters_mu_;
  // Each waiter's wake-up: true when its key was filled, false when Redis was lost.
  std::unordered_multimap<std::string, std::function<void(bool filled)>> waiters_;
  bool subscriber_up_ = false;  // guarded by waiters_mu_
};

// A reload's `redis:` for a zone kept across it (gateway/runtime.cpp): new
// settings reconnect the zone's tier (SharedTier::reconfigure, logged);
// adding or removing the tier takes a restart (logged too).
void reload_shared_tier(SharedTier* tier, const ZoneConfig& next);

}  // namespace gateway::cache
