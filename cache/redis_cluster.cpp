// A Redis Cluster as one client (see redis_cluster.hpp).
#include "cache/redis_cluster.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "base/log.hpp"

namespace gateway::cache {

namespace asio = boost::asio;

namespace {
constexpr std::chrono::seconds kRefreshGap{1};

// The settings of the connection to one node.
RedisConfig node_config(const RedisConfig& c, std::optional<Endpoint> address) {
  RedisConfig out = c;
  out.address = std::move(address);
  out.cluster.clear();
  return out;
}

// Command arguments, built outside the coroutines (g++ 12).
std::vector<std::string_view> slots_args() { return {"CLUSTER", "SLOTS"}; }
std::vector<std::string_view> asking_args() { return {"ASKING"}; }

bool one_slot(const std::vector<std::string_view>& keys) {
  if (keys.empty()) return true;
  for (auto k : keys)
    if (key_slot(k) != key_slot(keys.front())) return false;
  return true;
}
}  // namespace

std::shared_ptr<RedisCluster> RedisCluster::create(asio::any_io_executor ex, const RedisConfig& config,
                                                   std::string name, bool log_state,
                                                   std::function<void(bool up)> on_state) {
  return std::shared_ptr<RedisCluster>(
      new RedisCluster(std::move(ex), config, std::move(name), log_state, std::move(on_state)));
}

RedisCluster::RedisCluster(asio::any_io_executor ex, const RedisConfig& config, std::string name, bool log_state,
                           std::function<void(bool up)> on_state)
    : ex_(std::move(ex)),
      config_(config),
      name_(std::move(name)),
      log_state_(log_state),
      on_state_(std::move(on_state)),
      slots_(kClusterSlots, -1) {}

RedisCluster::~RedisCluster() { close(); }

void RedisCluster::close() {
  closed_ = true;
  for (auto& [_, n] : nodes_) n->close();
  if (subscriber_) subscriber_->close();
}

bool RedisCluster::up() const noexcept { return subscriber_ ? subscriber_->up() : mapped_; }

RedisNode& RedisCluster::node(const Endpoint& e) {
  std::string id = e.host + ":" + std::to_string(e.port);
  auto& n = nodes_[id];
  if (!n) n = RedisNode::create(ex_, node_config(config_, e), name_ + " node " + id, false, on_state_);
  return *n;
}

RedisNode* RedisCluster::owner(std::optional<std::uint16_t> slot) {
  if (masters_.empty()) return nullptr;
  if (!slot) return masters_[next_any_++ % masters_.size()];
  int i = slots_[*slot];
  return i < 0 ? nullptr : masters_[static_cast<std::size_t>(i)];
}

void RedisCluster::apply(const std::vector<SlotRange>& ranges) {
  std::vector<RedisNode*> masters;
  std::vector<int> slots(kClusterSlots, -1);
  for (const auto& r : ranges) {
    RedisNode* n = &node(r.master);
    auto it = std::find(masters.begin(), masters.end(), n);
    int index = static_cast<int>(it - masters.begin());
    if (it == masters.end()) masters.push_back(n);
    std::fill(slots.begin() + r.first, slots.begin() + r.last + 1, index);
  }
  if (log_state_ && masters.size() != masters_.size())
    log::info(name_ + ": cluster slot map with " + std::to_string(masters.size()) + " masters");
  masters_ = std::move(masters);
  slots_ = std::move(slots);
  mapped_ = true;
}

asio::awaitable<bool> RedisCluster::refresh() {
  if (refreshing_ || closed_) co_return mapped_;
  refreshing_ = true;
  last_refresh_ = std::chrono::steady_clock::now();
  auto self = shared_from_this();  // alive while asking
  // The masters known, then the seeds: any node answers for the whole cluster.
  std::vector<Endpoint> ask;
  for (auto& [_, n] : nodes_)
    if (n->config().address && std::find(masters_.begin(), masters_.end(), n.get()) != masters_.end())
      ask.push_back(*n->config().address);
  ask.insert(ask.end(), config_.cluster.begin(), config_.cluster.end());
  bool got = false;
  for (const auto& e : ask) {
    auto reply = co_await node(e).command(slots_args());
    auto ranges = parse_cluster_slots(reply, e.host);
    if (ranges && !ranges->empty()) {
      apply(*ranges);
      got = true;
      break;
    }
  }
  refreshing_ = false;
  co_return got;
}

void RedisCluster::refresh_soon() {
  if (refreshing_ || closed_ || std::chrono::steady_clock::now() - last_refresh_ < kRefreshGap) return;
  asio::co_spawn(ex_, [self = shared_from_this()]() -> asio::awaitable<void> { co_await self->refresh(); },
                 asio::detached);
}

asio::awaitable<RedisReply> RedisCluster::routed(std::vector<std::string_view> args,
                                                std::optional<std::uint16_t> slot) {
  if (!mapped_) co_await refresh();
  RedisNode* n = owner(slot);
  if (!n) {
    refresh_soon();
    co_return RedisReply::failure("redis cluster: no master for the slot");
  }
  auto self = shared_from_this();
  RedisReply r = co_await n->command(args);
  // At most two redirections (an ASK during a migration after a MOVED).
  for (int hop = 0; hop < 2; ++hop) {
    auto route = route_reply(r);
    if (route.kind == ReplyRoute::Kind::moved) {
      RedisNode* to = &node(route.node);
      auto it = std::find(masters_.begin(), masters_.end(), to);
      if (it == masters_.end()) it = masters_.insert(masters_.end(), to);
      slots_[route.slot] = static_cast<int>(it - masters_.begin());
      refresh_soon();
      r = co_await to->command(args);
    } else if (route.kind == ReplyRoute::Kind::ask) {
      RedisNode& to = node(route.node);
      to.send(asking_args());
      r = co_await to.command(args);
    } else {
      if (route.kind == ReplyRoute::Kind::stale || (!r.ok() && !n->up())) refresh_soon();
      break;
    }
  }
  co_return r;
}

asio::awaitable<RedisReply> RedisCluster::split(std::vector<std::string_view> args) {
  std::map<std::uint16_t, std::vector<std::string_view>> by_slot;
  for (std::size_t i = 1; i < args.size(); ++i) {
    auto& part = by_slot[key_slot(args[i])];
    if (part.empty()) part.push_back(args[0]);
    part.push_back(args[i]);
  }
  RedisReply total{RedisReply::Type::integer, {}, 0, {}};
  for (auto& [slot, part] : by_slot) {
    auto r = co_await routed(part, slot);
    if (r.type != RedisReply::Type::integer) co_return r;
    total.integer += r.integer;
  }
  co_return total;
}

asio::awaitable<RedisReply> RedisCluster::command(std::vector<std::string_view> args) {
  auto keys = command_keys(args);
  if (keys.empty()) co_return co_await routed(std::move(args), std::nullopt);
  if (one_slot(keys)) co_return co_await routed(std::move(args), key_slot(keys.front()));
  if (args[0] == "DEL" || args[0] == "UNLINK") co_return co_await split(std::move(args));
  co_return RedisReply::failure("CROSSSLOT keys of several slots");
}

asio::awaitable<void> RedisCluster::send_later(std::shared_ptr<RedisCluster> self, std::vector<std::string> args) {
  std::vector<std::string_view> views(args.begin(), args.end());
  co_await self->command(std::move(views));
}

void RedisCluster::send(std::vector<std::string_view> args) {
  if (closed_) return;
  auto keys = command_keys(args);
  if (mapped_ && one_slot(keys)) {
    if (RedisNode* n = owner(keys.empty() ? std::nullopt : std::optional(key_slot(keys.front())))) {
      n->send(std::move(args));
      return;
    }
  }
  // No map yet, or keys in several slots: as a command, in the background.
  asio::co_spawn(ex_, send_later(shared_from_this(), std::vector<std::string>(args.begin(), args.end())),
                 asio::detached);
}

void RedisCluster::subscribe(std::string channel, std::function<void(std::string_view)> on_message) {
  subscriber_ = RedisNode::create(ex_, node_config(config_, std::nullopt), name_, log_state_, on_state_,
                                  std::make_shared<RotatingAddresses>(config_.cluster));
  subscriber_->subscribe(std::move(channel), std::move(on_message));
}

asio::awaitable<std::size_t> RedisCluster::servers() {
  if (!mapped_) co_await refresh();
  co_return masters_.size();
}

asio::awaitable<RedisReply> RedisCluster::command_on(std::size_t i, std::vector<std::string_view> args) {
  if (i >= masters_.size()) co_return RedisReply::failure("redis cluster: no such master");
  auto self = shared_from_this();
  RedisNode* n = masters_[i];
  co_return co_await n->command(std::move(args));
}

}  // namespace gateway::cache
