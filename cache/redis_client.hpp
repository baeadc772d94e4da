// A Redis connection driven by an Asio io_context: hiredis's async API with
// a small adapter (its addRead/delRead/addWrite/delWrite/cleanup hooks wait
// on the socket with a posix::stream_descriptor), commands as awaitables
// with a timeout, reconnection with backoff, and an optional subscription.
//
// One client per worker (no locking), plus one subscriber per zone. Redis
// being slow or down is expected: a command never waits longer than the
// configured timeout, a timeout drops the connection (so commands do not
// queue behind a stalled server), and while it is down commands fail at
// once. State changes are logged once each.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cache/config.hpp"
#include "cache/redis_reply.hpp"

struct redisAsyncContext;
struct redisReply;

namespace gateway::cache {

// Where a client connects when the address is not fixed: the master that
// Sentinels name (redis_sentinel.hpp), or a cluster's nodes in turn
// (redis_cluster.hpp). Shared by the clients of a zone, on any thread.
class RedisAddressSource {
 public:
  virtual ~RedisAddressSource() = default;
  // Where to connect now; nullopt while it is not known.
  virtual std::optional<Endpoint> address() = 0;
  // Changes whenever address() does: a client connected for an older
  // generation drops its connection and connects again.
  virtual std::uint64_t generation() const = 0;
  // The client could not connect, lost its connection, or was told its
  // server is no master any more (READONLY): time to look again.
  virtual void connection_failed() = 0;
};

// A list of servers taken in turn: the next one after each failure (the
// Sentinels to listen to, a cluster's seed nodes for its subscriber).
class RotatingAddresses final : public RedisAddressSource {
 public:
  explicit RotatingAddresses(std::vector<Endpoint> list) : list_(std::move(list)) {}
  std::optional<Endpoint> address() override;
  std::uint64_t generation() const override { return 0; }
  void connection_failed() override { next_.fetch_add(1, std::memory_order_relaxed); }

 private:
  std::vector<Endpoint> list_;
  std::atomic<std::size_t> next_{0};
};

// A connection to the shared tier's Redis, whatever its shape: one server
// (RedisNode), or a Redis Cluster (RedisCluster, redis_cluster.hpp) that
// routes each command by its key's slot. Used on one executor.
class RedisClient {
 public:
  // `name` is for log lines ("redis 127.0.0.1:6379 (zone main)"); only a
  // client with `log_state` logs its ups and downs (one per process is
  // enough: the zone's subscriber). `on_state`, if set, is called on the
  // client's executor when the connection comes up (true) and when a
  // connection that was up is lost (false: closed by Redis, or dropped
  // after a command timed out); not for close(). A cluster configuration
  // (config.cluster) gives a RedisCluster, anything else a RedisNode that
  // connects where `source` says (if given) or to config's address.
  static std::shared_ptr<RedisClient> create(boost::asio::any_io_executor ex, const RedisConfig& config,
                                             std::string name, bool log_state = true,
                                             std::function<void(bool up)> on_state = {},
                                             std::shared_ptr<RedisAddressSource> source = nullptr);
  virtual ~RedisClient() = default;

  // Runs one command (binary-safe arguments). Fails at once while the
  // connection is down, and after `timeout` if Redis does not answer.
  virtual boost::asio::awaitable<RedisReply> command(std::vector<std::string_view> args) = 0;
  // The same without waiting for the answer (fills, unlocks, publishes).
  virtual void send(std::vector<std::string_view> args) = 0;
  // Subscription mode: this client then only delivers messages of
  // `channel` to `on_message` (on the client's executor), resubscribing
  // after every reconnection.
  virtual void subscribe(std::string channel, std::function<void(std::string_view)> on_message) = 0;
  virtual bool up() const noexcept = 0;
  virtual void close() = 0;
  // The settings it was made with (a reload may give the zone new ones).
  virtual const RedisConfig& config() const noexcept = 0;
  // The address source moved on (a new master): reconnect there now.
  // Commands do it by themselves; a subscriber is told.
  virtual void follow_source() {}

  // The servers holding keys (a cluster's masters; 1 otherwise), for
  // commands that see one server's keys only (SCAN): a command on server
  // `i` < servers().
  virtual boost::asio::awaitable<std::size_t> servers() { co_return 1; }
  virtual boost::asio::awaitable<RedisReply> command_on(std::size_t i, std::vector<std::string_view> args) {
    (void)i;
    return command(std::move(args));
  }
};

// One Redis server (hiredis's async API on Asio): a fixed address, or the
// one an address source gives.
class RedisNode final : public RedisClient, public std::enable_shared_from_this<RedisNode> {
 public:
  static std::shared_ptr<RedisNode> create(boost::asio::any_io_executor ex, const RedisConfig& config,
                                           std::string name, bool log_state = true,
                                           std::function<void(bool up)> on_state = {},
                                           std::shared_ptr<RedisAddressSource> source = nullptr);
  ~RedisNode() override;
  RedisNode(const RedisNode&) = delete;
  RedisNode& operator=(const RedisNode&) = delete;

  boost::asio::awaitable<RedisReply> command(std::vector<std::string_view> args) override;
  void send(std::vector<std::string_view> args) override;
  void subscribe(std::string channel, std::function<void(std::string_view)> on_message) override;
  bool up() const noexcept override { return state_ == State::up; }
  void close() override;
  const RedisConfig& config() const noexcept override { return config_; }
  void follow_source() override;

 private:
  // Starts connecting (if down and the backoff has passed); returns at once.
  void ensure_connected();
  struct Watcher;
  struct Pending;
  enum class State { down, connecting, up };

  RedisNode(boost::asio::any_io_executor ex, const RedisConfig& config, std::string name, bool log_state);
  void connect();
  void on_connected(int status);
  void on_disconnected();
  void schedule_reconnect();
  void set_state(State s, std::string_view why);
  // Drops the connection (a timeout, a master that is one no more).
  void drop(std::string_view why);
  bool dispatch(std::vector<std::string_view> args, void (*fn)(redisAsyncContext*, void*, void*), void* privdata);

  static void on_connect_cb(const redisAsyncContext* ac, int status);
  static void on_disconnect_cb(const redisAsyncContext* ac, int status);
  static void on_reply_cb(redisAsyncContext* ac, void* reply, void* privdata);
  static void on_message_cb(redisAsyncContext* ac, void* reply, void* privdata);

  boost::asio::any_io_executor ex_;
  RedisConfig config_;
  std::string name_;
  bool log_state_;
  redisAsyncContext* ac_ = nullptr;
  std::shared_ptr<Watcher> watcher_;
  State state_ = State::down;
  bool ever_up_ = false;
  bool warned_unreachable_ = false;  // before the first connection
  bool closing_ = false;
  std::chrono::milliseconds backoff_{100};
  std::chrono::steady_clock::time_point retry_at_{};
  boost::asio::steady_timer connect_timer_;
  std::string channel_;
  std::function<void(std::string_view)> on_message_;
  std::function<void(bool)> on_state_;
  std::shared_ptr<RedisAddressSource> source_;
  std::uint64_t source_generation_ = 0;  // of the address connected to
};

// A hiredis reply as a RedisReply; null (the connection was lost) and reply
// types it does not know become errors. Public for fuzz/resp_fuzz.cpp.
RedisReply convert_reply(const redisReply* r);

// Redis glob patterns: escapes * ? [ ] and \ so that `s` matches only itself.
std::string glob_escape(std::string_view s);

}  // namespace gateway::cache
