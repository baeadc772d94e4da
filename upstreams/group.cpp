#include "upstreams/group.hpp"

#include <boost/asio/ip/address.hpp>
#include <netdb.h>

#include <algorithm>
#include <cstring>

#include "base/log.hpp"
#include "upstreams/availability.hpp"
#include "upstreams/client.hpp"
#include "upstreams/membership.hpp"
#include "upstreams/slow_start.hpp"

namespace gateway::upstreams {

namespace {
namespace ip = boost::asio::ip;

// Resolves once, at load: the hot path connects to addresses, never names.
std::vector<ip::tcp::endpoint> resolve(const Endpoint& e) {
  std::vector<ip::tcp::endpoint> out;
  boost::system::error_code ec;
  auto addr = ip::make_address(e.host, ec);
  if (!ec) {
    out.emplace_back(addr, e.port);
    return out;
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(e.host.c_str(), nullptr, &hints, &res) != 0) return out;
  for (auto* p = res; p; p = p->ai_next) {
    if (p->ai_family == AF_INET) {
      sockaddr_in sa;
      std::memcpy(&sa, p->ai_addr, sizeof sa);
      out.emplace_back(ip::address_v4(ntohl(sa.sin_addr.s_addr)), e.port);
    } else if (p->ai_family == AF_INET6) {
      sockaddr_in6 sa;
      std::memcpy(&sa, p->ai_addr, sizeof sa);
      ip::address_v6::bytes_type b;
      std::memcpy(b.data(), &sa.sin6_addr, 16);
      out.emplace_back(ip::address_v6(b), e.port);
    }
  }
  freeaddrinfo(res);
  return out;
}
// Keep-alive connections idle longer than this are closed rather than
// reused: most servers drop theirs after a few seconds to a minute.
constexpr auto kIdleMax = std::chrono::seconds(30);
}  // namespace

Group::Group(const GroupConfig& config, const Group* previous) : config_(config) {
  const auto created = Clock::now();
  for (const auto& ic : config_.instances) {
    // A name of a `resolve:` group is not an instance: membership.hpp
    // replaces it with its addresses (looked up with c-ares, not here).
    bool by_resolver = config_.resolve.count() > 0 && !is_ip_literal(ic.address.host);
    auto endpoints = by_resolver ? std::vector<ip::tcp::endpoint>{} : resolve(ic.address);
    int old = previous ? previous->find(ic.address.text) : -1;
    if (old >= 0 && previous->instances_[old]->endpoints == endpoints) {
      // The same instance: its state carries on (a weight change included).
      auto st = previous->instances_[old];
      st->weight.store(ic.weight);
      instances_.push_back(std::move(st));
      continue;
    }
    auto st = std::make_shared<InstanceState>();
    st->address = ic.address;
    st->weight.store(ic.weight);
    st->endpoints = std::move(endpoints);
    st->usable_since.store(joined_at(previous, ic.address, created));
    if (old >= 0) {
      // Same address, other endpoints (a name that resolves elsewhere now).
      const auto& o = *previous->instances_[old];
      st->fails.store(o.fails.load());
      st->down_until.store(o.down_until.load());
      st->probe_up.store(o.probe_up.load());
      st->probe_streak.store(o.probe_streak.load());
    }
    instances_.push_back(std::move(st));
  }
  if (previous) {
    // The state its log lines and /metrics left off with.
    panic_.store(previous->panic_.load());
    panic_entries_.store(previous->panic_entries_.load());
  }
}

int Group::find(std::string_view address) const noexcept {
  for (std::size_t i = 0; i < instances_.size(); ++i)
    if (instances_[i]->address.text == address) return static_cast<int>(i);
  return -1;
}

void Group::exclude_draining(std::span<std::uint8_t> excluded) const noexcept {
  for (std::size_t i = 0; i < instances_.size(); ++i)
    if (instances_[i]->draining.load(std::memory_order_relaxed)) excluded[i] = 1;
}

bool Group::usable(std::size_t i, Clock::time_point now) const noexcept {
  const auto& s = *instances_[i];
  if (!s.probe_up.load(std::memory_order_relaxed)) return false;
  return s.down_until.load(std::memory_order_relaxed) <= steady_ns(now);
}

void Group::report_failure(std::size_t i, Clock::time_point now) noexcept {
  auto& s = *instances_[i];
  s.failures_total.fetch_add(1, std::memory_order_relaxed);
  if (config_.max_fails <= 0 || !may_eject(instances_.size())) return;
  int fails = s.fails.fetch_add(1, std::memory_order_relaxed) + 1;
  if (fails >= config_.max_fails) {
    s.down_until.store(steady_ns(now + config_.fail_timeout), std::memory_order_relaxed);
    s.usable_since.store(steady_ns(now + config_.fail_timeout), std::memory_order_relaxed);  // slow start from there
    s.fails.store(0, std::memory_order_relaxed);
    s.ejections_total.fetch_add(1, std::memory_order_relaxed);
  }
}

void Group::report_success(std::size_t i) noexcept {
  auto& s = *instances_[i];
  // Read first: the common case writes nothing and keeps the line shared.
  if (s.fails.load(std::memory_order_relaxed) != 0) s.fails.store(0, std::memory_order_relaxed);
  if (auto until = s.down_until.load(std::memory_order_relaxed); until != 0) {
    s.down_until.store(0, std::memory_order_relaxed);
    // Back before its fail_timeout ended (tried in panic): slow start now.
    if (auto now = steady_ns(Clock::now()); until > now) s.usable_since.store(now, std::memory_order_relaxed);
  }
}

bool Group::check(Clock::time_point now, std::span<std::uint8_t> out) {
  std::size_t n_out = 0;
  for (std::size_t i = 0; i < instances_.size(); ++i) {
    bool o = !usable(i, now);
    if (!out.empty()) out[i] = o;
    n_out += o;
  }
  bool panic = in_panic(instances_.size(), n_out, config_.panic_threshold);
  if (panic != panic_.load(std::memory_order_relaxed)) note_panic(panic, n_out);
  return panic;
}

void Group::note_panic(bool panic, std::size_t out) {
  bool was = !panic;
  if (!panic_.compare_exchange_strong(was, panic)) return;  // another thread saw it first
  std::string what = "upstream " + config_.name + (panic ? " enters panic: " : " leaves panic: ") +
                     std::to_string(out) + " of " + std::to_string(instances_.size()) +
                     " instances ejected or down (panic_threshold " + std::to_string(config_.panic_threshold) + "%)";
  if (panic) {
    panic_entries_.fetch_add(1, std::memory_order_relaxed);
    log::warn(what + ": balancing over every instance");
  } else {
    log::info(what);
  }
}

bool Group::report_probe(std::size_t i, bool ok) noexcept {
  auto& s = *instances_[i];
  int streak = s.probe_streak.load();
  streak = ok ? (streak > 0 ? streak + 1 : 1) : (streak < 0 ? streak - 1 : -1);
  s.probe_streak.store(streak);
  const auto& hc = *config_.health;
  bool up = s.probe_up.load();
  if (up && streak <= -hc.fails) {
    s.probe_up.store(false);
    return true;
  }
  if (!up && streak >= hc.passes) {
    s.probe_up.store(true);
    s.usable_since.store(steady_ns(Clock::now()), std::memory_order_relaxed);  // slow start from now
    return true;
  }
  return false;
}

Pool::Pool(std::shared_ptr<Group> group, PoolStats* stats, std::size_t worker, Pool* previous)
    : group_(std::move(group)),
      stats_(stats),
      balancer_(group_->config().balance,
                [&] {
                  std::vector<int> w;
                  for (std::size_t i = 0; i < group_->size(); ++i) w.push_back(group_->instance(i).weight);
                  return w;
                }(),
                worker),
      idle_(group_->size()) {
  if (previous) take_over(*previous);
}

Pool::~Pool() = default;

namespace {
bool same_tls(const std::optional<TlsClientConfig>& a, const std::optional<TlsClientConfig>& b) {
  if (!a || !b) return !a && !b;
  return a->verify == b->verify && a->ca == b->ca && a->sni == b->sni && a->cert == b->cert && a->key == b->key;
}
}  // namespace

void Pool::give_back(std::unique_ptr<Connection> c, Clock::time_point now, const Pool& from) {
  if (&from == this) return give_back(std::move(c), now);
  if (!same_tls(group_->config().tls, from.group_->config().tls)) return;
  const auto& state = from.group_->shared_instance(c->instance());
  for (std::size_t i = 0; i < group_->size(); ++i) {
    if (group_->shared_instance(i) != state) continue;
    c->set_instance(i);
    return give_back(std::move(c), now);
  }
}

void Pool::take_over(Pool& previous) {
  if (!same_tls(group_->config().tls, previous.group_->config().tls)) return;
  for (std::size_t i = 0; i < group_->size(); ++i) {
    for (std::size_t j = 0; j < previous.group_->size(); ++j) {
      if (previous.group_->shared_instance(j) != group_->shared_instance(i)) continue;
      for (auto& c : previous.idle_[j]) {
        c->set_instance(i);
        idle_[i].push_back(std::move(c));
      }
      previous.idle_[j].clear();
    }
  }
}

std::unique_ptr<Connection> Pool::take_idle(std::size_t i, Clock::time_point now) {
  auto& stack = idle_[i];
  while (!stack.empty()) {
    auto c = std::move(stack.back());
    stack.pop_back();
    if (now - c->idle_since() < kIdleMax) return c;
  }
  return nullptr;
}

void Pool::give_back(std::unique_ptr<Connection> c, Clock::time_point now) {
  const auto cap = static_cast<std::size_t>(std::max(group_->config().keepalive, 0));
  if (cap == 0) return;
  auto& stack = idle_[c->instance()];
  // Full: drop the oldest, keep the one just used (it is warm).
  if (stack.size() >= cap) stack.erase(stack.begin());
  c->set_idle_since(now);
  c->release_buffer();
  stack.push_back(std::move(c));
}

}  // namespace gateway::upstreams
