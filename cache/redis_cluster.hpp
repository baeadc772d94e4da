// A Redis Cluster as one client (`redis: {cluster: [seed, ...]}`): the slot
// map from CLUSTER SLOTS (asked of the known masters, then of the seeds), a
// connection per master, each command sent to the master of its key's slot
// (redis_routing.hpp). A MOVED reply updates the map and the command goes
// where it points (and the whole map is asked for again, soon); an ASK
// reply sends it there once, after ASKING. Multi-key deletions whose keys
// lie in several slots are split by slot. The shared tier keeps the keys of
// one entry in one slot (a hash tag), so MGET and the unlock script work.
//
// Pub/sub: PUBLISH reaches the subscribers of every node of a cluster, so
// the subscriber listens on any one node (the seeds in turn).
//
// Used on one executor, as RedisNode is (one per worker, plus the zone's
// subscriber).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cache/redis_client.hpp"
#include "cache/redis_routing.hpp"

namespace gateway::cache {

class RedisCluster final : public RedisClient, public std::enable_shared_from_this<RedisCluster> {
 public:
  static std::shared_ptr<RedisCluster> create(boost::asio::any_io_executor ex, const RedisConfig& config,
                                              std::string name, bool log_state = true,
                                              std::function<void(bool up)> on_state = {});
  ~RedisCluster() override;
  RedisCluster(const RedisCluster&) = delete;
  RedisCluster& operator=(const RedisCluster&) = delete;

  boost::asio::awaitable<RedisReply> command(std::vector<std::string_view> args) override;
  void send(std::vector<std::string_view> args) override;
  void subscribe(std::string channel, std::function<void(std::string_view)> on_message) override;
  bool up() const noexcept override;
  void close() override;
  const RedisConfig& config() const noexcept override { return config_; }
  boost::asio::awaitable<std::size_t> servers() override;
  boost::asio::awaitable<RedisReply> command_on(std::size_t i, std::vector<std::string_view> args) override;

 private:
  RedisCluster(boost::asio::any_io_executor ex, const RedisConfig& config, std::string name, bool log_state,
               std::function<void(bool up)> on_state);
  // The connection to `e`, made on first use.
  RedisNode& node(const Endpoint& e);
  // The master of `slot` (nullopt: any master, for keyless commands); null
  // when the map has none.
  RedisNode* owner(std::optional<std::uint16_t> slot);
  // Asks for the slot map; false if no node gave one.
  boost::asio::awaitable<bool> refresh();
  // A refresh in the background, at most once a second.
  void refresh_soon();
  void apply(const std::vector<SlotRange>& ranges);
  // One command to the master of `slot`, following MOVED and ASK.
  boost::asio::awaitable<RedisReply> routed(std::vector<std::string_view> args, std::optional<std::uint16_t> slot);
  // DEL / UNLINK of keys in several slots: one per slot, the counts summed.
  boost::asio::awaitable<RedisReply> split(std::vector<std::string_view> args);
  static boost::asio::awaitable<void> send_later(std::shared_ptr<RedisCluster> self, std::vector<std::string> args);

  boost::asio::any_io_executor ex_;
  RedisConfig config_;
  std::string name_;
  bool log_state_;
  std::function<void(bool)> on_state_;
  std::map<std::string, std::shared_ptr<RedisNode>> nodes_;  // by "host:port"; never removed
  std::vector<RedisNode*> masters_;                         // of the slot map
  std::vector<int> slots_;                                  // index into masters_, -1: unknown
  std::size_t next_any_ = 0;
  bool mapped_ = false;
  bool refreshing_ = false;
  bool closed_ = false;
  std::chrono::steady_clock::time_point last_refresh_{};
  std::shared_ptr<RedisNode> subscriber_;
};

}  // namespace gateway::cache
