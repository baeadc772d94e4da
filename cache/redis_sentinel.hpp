// The master of a zone's Redis as its Sentinels name it (`redis:
// {sentinels: [...], master_name: ...}`): asked with SENTINEL
// get-master-addr-by-name (the Sentinels in turn until one answers), asked
// again when a client cannot reach the master or is told READONLY (the
// master became a replica), every few seconds anyway, and at once when a
// Sentinel announces +switch-master (a subscription on one Sentinel, the
// next one when it goes down).
//
// The address source of the zone's clients (RedisAddressSource): every
// worker's client and the subscriber connect where it says, and reconnect
// when it changes (its generation). Runs on the executor start() is given
// (the subscriber's worker); address(), generation() and
// connection_failed() may be called from any thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "cache/redis_client.hpp"

namespace gateway::cache {

class SentinelSource final : public RedisAddressSource, public std::enable_shared_from_this<SentinelSource> {
 public:
  // `name` is for log lines ("redis (zone main)").
  SentinelSource(const RedisConfig& config, std::string name);
  ~SentinelSource() override;

  // Starts asking on `ex` (once); `on_change` runs there when the master
  // changed.
  void start(boost::asio::any_io_executor ex, std::function<void()> on_change);
  // Stops asking and closes its connections; on start()'s executor.
  void stop();

  std::optional<Endpoint> address() override;
  std::uint64_t generation() const override { return generation_.load(std::memory_order_acquire); }
  void connection_failed() override;

 private:
  boost::asio::awaitable<void> run();
  // One round: the Sentinels in turn until one names the master.
  boost::asio::awaitable<bool> ask();
  void set_master(const Endpoint& master, std::string_view how);

  RedisConfig config_;
  std::string name_;
  std::mutex mu_;
  std::optional<Endpoint> master_;                   // guarded by mu_
  std::optional<boost::asio::any_io_executor> ex_;  // guarded by mu_
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<bool> wake_posted_{false};
  // On the executor:
  std::unique_ptr<boost::asio::steady_timer> timer_;
  bool ask_again_ = false;
  bool stopped_ = false;
  bool warned_ = false;
  std::size_t current_ = 0;                          // the Sentinel that answered last
  std::vector<std::shared_ptr<RedisNode>> asking_;   // one per Sentinel, made on first use
  std::shared_ptr<RedisNode> events_;                // +switch-master
  std::function<void()> on_change_;
};

}  // namespace gateway::cache
