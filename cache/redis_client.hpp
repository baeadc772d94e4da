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
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cache/config.hpp"

struct redisAsyncContext;
struct redisReply;

namespace gateway::cache {

struct RedisReply {
  enum class Type { nil, string, integer, array, status, error };
  Type type = Type::error;
  std::string str;  // string, status, error
  long long integer = 0;
  std::vector<RedisReply> elements;

  bool ok() const noexcept { return type != Type::error; }
  static RedisReply failure(std::string why) { return RedisReply{Type::error, std::move(why), 0, {}}; }
};

class RedisClient : public std::enable_shared_from_this<RedisClient> {
 public:
  // `name` is for log lines ("redis 127.0.0.1:6379 (zone main)"); only a
  // client with `log_state` logs its ups and downs (one per process is
  // enough: the zone's subscriber). `on_state`, if set, is called on the
  // client's executor when the connection comes up (true) and when a
  // connection that was up is lost (false: closed by Redis, or dropped
  // after a command timed out); not for close().
  static std::shared_ptr<RedisClient> create(boost::asio::any_io_executor ex, const RedisConfig& config,
                                             std::string name, bool log_state = true,
                                             std::function<void(bool up)> on_state = {});
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // Runs one command (binary-safe arguments). Fails at once while the
  // connection is down, and after `timeout` if Redis does not answer.
  boost::asio::awaitable<RedisReply> command(std::vector<std::string_view> args);
  // The same without waiting for the answer (fills, unlocks, publishes).
  void send(std::vector<std::string_view> args);

  // Subscription mode: this client then only delivers messages of
  // `channel` to `on_message` (on the client's executor), resubscribing
  // after every reconnection.
  void subscribe(std::string channel, std::function<void(std::string_view)> on_message);

  bool up() const noexcept { return state_ == State::up; }
  void close();


 private:
  // Starts connecting (if down and the backoff has passed); returns at once.
  void ensure_connected();
  struct Watcher;
  struct Pending;
  enum class State { down, connecting, up };

  RedisClient(boost::asio::any_io_executor ex, const RedisConfig& config, std::string name, bool log_state);
  void connect();
  void on_connected(int status);
  void on_disconnected();
  void schedule_reconnect();
  void set_state(State s, std::string_view why);
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
};

// A hiredis reply as a RedisReply; null (the connection was lost) and reply
// types it does not know become errors. Public for fuzz/resp_fuzz.cpp.
RedisReply convert_reply(const redisReply* r);

// Redis glob patterns: escapes * ? [ ] and \ so that `s` matches only itself.
std::string glob_escape(std::string_view s);

}  // namespace gateway::cache
