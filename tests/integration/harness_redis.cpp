// Redis Cluster and Sentinel sets for the integration tests (see harness_redis.hpp).
#include "harness_redis.hpp"

#include <algorithm>
#include <stdexcept>

namespace itest {

namespace {
// `INFO section` of `r` holds `needle`.
bool info_has(const RedisServer& r, const std::string& section, const std::string& needle) {
  return r.command({"INFO", section}, 2s).str.find(needle) != std::string::npos;
}
}  // namespace

// ---------------------------------------------------------------- RedisClusterSet

RedisClusterSet::RedisClusterSet(const TempDir& dir) {
  for (int i = 0; i < 3; ++i)
    nodes_.push_back(std::make_unique<RedisServer>(
        dir, "", std::vector<std::string>{"--cluster-enabled", "yes", "--cluster-config-file",
                                          "nodes-" + std::to_string(i) + ".conf", "--cluster-node-timeout", "5000"}));
  // redis-cli from PATH (Process execs without searching it).
  std::vector<std::string> argv{"/bin/sh", "-c", "exec redis-cli \"$@\"", "redis-cli", "--cluster", "create"};
  for (auto& n : nodes_) argv.push_back(n->address());
  argv.push_back("--cluster-yes");
  Process create(argv, dir.file("cluster-create.out"), dir.file("cluster-create.err"));
  auto rc = create.wait_exit(60s);
  if (rc != 0)
    throw std::runtime_error("redis-cli --cluster create failed:\n" + create.out() + create.err());
  bool ok = eventually(
      [&] {
        return std::all_of(nodes_.begin(), nodes_.end(), [](auto& n) {
          return n->command({"CLUSTER", "INFO"}, 2s).str.find("cluster_state:ok") != std::string::npos;
        });
      },
      30s);
  if (!ok) throw std::runtime_error("the cluster never said cluster_state:ok");
}

std::string RedisClusterSet::seeds_yaml() const {
  std::string out = "[";
  for (auto& n : nodes_) out += std::string(out.size() > 1 ? ", " : "") + "\"" + n->address() + "\"";
  return out + "]";
}

std::vector<std::string> RedisClusterSet::keys(const std::string& pattern) const {
  std::vector<std::string> out;
  for (auto& n : nodes_) {
    auto k = n->keys(pattern);
    out.insert(out.end(), k.begin(), k.end());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::uint16_t RedisClusterSet::keyslot(const std::string& key) const {
  return static_cast<std::uint16_t>(nodes_.front()->command({"CLUSTER", "KEYSLOT", key}).integer);
}

std::size_t RedisClusterSet::owner_of(std::uint16_t slot) const {
  for (const auto& range : nodes_.front()->command({"CLUSTER", "SLOTS"}).elements) {
    if (range.elements.size() < 3 || slot < range.elements[0].integer || slot > range.elements[1].integer) continue;
    auto port = range.elements[2].elements.at(1).integer;
    for (std::size_t i = 0; i < nodes_.size(); ++i)
      if (nodes_[i]->port() == port) return i;
  }
  throw std::runtime_error("no node serves slot " + std::to_string(slot));
}

std::string RedisClusterSet::node_id(std::size_t i) const { return nodes_.at(i)->command({"CLUSTER", "MYID"}).str; }

void RedisClusterSet::move_slot(std::uint16_t slot, std::size_t to) {
  std::size_t from = owner_of(slot);
  if (from == to) return;
  std::string s = std::to_string(slot);
  RedisServer& src = *nodes_[from];
  RedisServer& dst = *nodes_[to];
  dst.command({"CLUSTER", "SETSLOT", s, "IMPORTING", node_id(from)});
  src.command({"CLUSTER", "SETSLOT", s, "MIGRATING", node_id(to)});
  while (true) {
    auto keys = src.command({"CLUSTER", "GETKEYSINSLOT", s, "100"}).elements;
    if (keys.empty()) break;
    std::vector<std::string> migrate{"MIGRATE", "127.0.0.1", std::to_string(dst.port()), "", "0", "5000", "KEYS"};
    for (auto& k : keys) migrate.push_back(k.str);
    auto r = src.command(migrate);
    if (r.type == '-') throw std::runtime_error("MIGRATE: " + r.str);
  }
  for (auto& n : nodes_) n->command({"CLUSTER", "SETSLOT", s, "NODE", node_id(to)});
  bool ok = eventually([&] { return owner_of(slot) == to; }, 10s);
  if (!ok) throw std::runtime_error("slot " + s + " did not move");
}

// ---------------------------------------------------------------- RedisSentinelSet

RedisSentinelSet::RedisSentinelSet(const TempDir& dir) {
  master = std::make_unique<RedisServer>(dir);
  replica = std::make_unique<RedisServer>(dir, "", std::vector<std::string>{"--replicaof", "127.0.0.1",
                                                                              std::to_string(master->port())});
  if (!eventually([&] { return info_has(*replica, "replication", "master_link_status:up"); }, 20s))
    throw std::runtime_error("the replica never synced");
  std::string conf = dir.write("sentinel.conf", "sentinel monitor mymaster 127.0.0.1 " + std::to_string(master->port()) +
                                                    " 1\nsentinel down-after-milliseconds mymaster 1000\n"
                                                    "sentinel failover-timeout mymaster 10000\n");
  sentinel = std::make_unique<RedisServer>(dir, conf, std::vector<std::string>{"--sentinel"});
  // The Sentinel learns the replica from the master's INFO.
  bool knows = eventually(
      [&] {
        auto r = sentinel->command({"SENTINEL", "REPLICAS", "mymaster"});
        return r.elements.size() == 1;
      },
      30s);
  if (!knows) throw std::runtime_error("the Sentinel never found the replica");
}

std::string RedisSentinelSet::sentinels_yaml() const { return "[\"" + sentinel->address() + "\"]"; }

std::uint16_t RedisSentinelSet::master_port() const {
  auto r = sentinel->command({"SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster"});
  return r.elements.size() == 2 ? static_cast<std::uint16_t>(std::stoi(r.elements[1].str)) : 0;
}

RedisServer& RedisSentinelSet::by_port(std::uint16_t port) { return master->port() == port ? *master : *replica; }

std::uint16_t RedisSentinelSet::failover() {
  std::uint16_t old = master_port();
  auto r = sentinel->command({"SENTINEL", "FAILOVER", "mymaster"});
  if (r.type != '+') throw std::runtime_error("SENTINEL FAILOVER: " + r.str);
  bool done = eventually(
      [&] {
        auto now = master_port();
        return now != 0 && now != old && info_has(by_port(now), "replication", "role:master");
      },
      60s);
  if (!done) throw std::runtime_error("the failover did not finish");
  return master_port();
}

}  // namespace itest
