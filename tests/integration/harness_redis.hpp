// Redis beyond one server for the integration tests (issue 12): a
// three-master Redis Cluster and a Sentinel set (master, replica, one
// Sentinel), made of redis-server processes started at test time (stopped
// by their destructors, also when a test fails).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "harness.hpp"

namespace itest {

// Three `redis-server --cluster-enabled yes` joined by `redis-cli --cluster
// create` (no replicas); the constructor returns once every node says
// cluster_state:ok.
class RedisClusterSet {
 public:
  explicit RedisClusterSet(const TempDir& dir);
  // "[\"127.0.0.1:p1\", ...]": the seed list of a gateway's `cluster:`.
  std::string seeds_yaml() const;
  RedisServer& node(std::size_t i) { return *nodes_.at(i); }
  std::size_t size() const { return nodes_.size(); }
  // KEYS over every node, sorted.
  std::vector<std::string> keys(const std::string& pattern) const;
  // The node serving `slot` (CLUSTER SLOTS as node 0 sees it).
  std::size_t owner_of(std::uint16_t slot) const;
  // Moves `slot` with its keys from its node to node `to` (SETSLOT
  // IMPORTING/MIGRATING, MIGRATE, SETSLOT NODE on every node).
  void move_slot(std::uint16_t slot, std::size_t to);
  std::uint16_t keyslot(const std::string& key) const;

 private:
  std::string node_id(std::size_t i) const;
  std::vector<std::unique_ptr<RedisServer>> nodes_;
};

// A master, its replica and one Sentinel watching the master as
// "mymaster" (quorum 1, down-after 1s); the constructor returns once the
// replica is in sync and the Sentinel knows it.
class RedisSentinelSet {
 public:
  explicit RedisSentinelSet(const TempDir& dir);
  std::string sentinels_yaml() const;  // "[\"127.0.0.1:p\"]"
  // The master's port as the Sentinel names it.
  std::uint16_t master_port() const;
  RedisServer& by_port(std::uint16_t port);
  // SENTINEL FAILOVER, then waits until the Sentinel names the replica and
  // the replica says it is a master. Returns the new master's port.
  std::uint16_t failover();

  std::unique_ptr<RedisServer> master, replica, sentinel;
};

}  // namespace itest
