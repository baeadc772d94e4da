// Upstream groups: their instances and health (shared by all workers), and
// the per-worker Pool of keep-alive connections and balancer state.
//
// Group: built at config load, shared as shared_ptr by workers and the health
// checker. Only the health atomics change after construction; they are
// written on failures and probe results, read on every pick. Which instances
// a pick may use follows availability.hpp.
// Pool: owned by one worker, touched only on that worker's thread.
#pragma once

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "upstreams/config.hpp"
#include "base/deadline.hpp"
#include "upstreams/balancer.hpp"
#include "upstreams/slots.hpp"

namespace gateway::upstreams {

class Connection;

// Shared (shared_ptr) by the versions of a group that keep the instance at
// the same address: a membership change or reload builds a new Group that
// takes these over, so health, counts and the in-flight count carry on.
// A steady-clock time as InstanceState's atomics keep it: ns since the epoch.
inline std::int64_t steady_ns(Clock::time_point t) noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

struct InstanceState {
  Endpoint address;
  std::atomic<int> weight{1};  // H2: atomic, the admin API changes it
  std::vector<boost::asio::ip::tcp::endpoint> endpoints;  // resolved at load
  // Passive health (nginx max_fails / fail_timeout).
  std::atomic<int> fails{0};
  std::atomic<std::int64_t> down_until{0};  // steady clock, ns since epoch
  // Active health: the probe's verdict and its current streak.
  std::atomic<bool> probe_up{true};
  std::atomic<int> probe_streak{0};  // >0: passes in a row, <0: failures in a row
  std::atomic<std::uint64_t> failures_total{0};
  std::atomic<std::uint64_t> ejections_total{0};
  // Requests in flight to it over all workers and every version of the
  // group (slots.hpp: taken at the pick, given back when the attempt ends;
  // a drain waits for zero), the drain flag (H2: a draining instance gets no
  // new requests), and when it last became usable (steady ns; slow_start.hpp
  // ramps its weight from there; in the future while it is ejected).
  std::atomic<int> in_flight{0};
  std::atomic<bool> draining{false};
  std::atomic<std::int64_t> usable_since{0};
};

class Group {
 public:
  // `previous`: the group of the same name in the configuration being
  // replaced; instances at the same address (and resolving to the same
  // endpoints) are the same InstanceState, so they keep their health,
  // counts and in-flight requests.
  Group(const GroupConfig& config, const Group* previous = nullptr);

  const GroupConfig& config() const noexcept { return config_; }
  const std::string& name() const noexcept { return config_.name; }
  std::size_t size() const noexcept { return instances_.size(); }
  InstanceState& instance(std::size_t i) noexcept { return *instances_[i]; }
  const InstanceState& instance(std::size_t i) const noexcept { return *instances_[i]; }
  // H2: the shared state of instance i, and the index of an address (-1: none).
  const std::shared_ptr<InstanceState>& shared_instance(std::size_t i) const noexcept { return instances_[i]; }
  int find(std::string_view address) const noexcept;
  // H2: marks draining instances in `excluded` (size() long): no new request
  // goes to them, in panic or not.
  void exclude_draining(std::span<std::uint8_t> excluded) const noexcept;

  // Neither ejected by failures nor down by its probe.
  bool usable(std::size_t i, Clock::time_point now) const noexcept;
  // Passive health: a failed attempt (connect error, reset, timeout).
  // Ejects the instance after max_fails in a row, unless it is the only one.
  void report_failure(std::size_t i, Clock::time_point now) noexcept;
  // A response came: the failure count starts over, and an ejected
  // instance (tried in panic) is back at once.
  void report_success(std::size_t i) noexcept;
  // Active health: a probe result; returns true if the verdict changed.
  bool report_probe(std::size_t i, bool ok) noexcept;

  // Whether the group is in panic at `now` (availability.hpp: in_panic);
  // fills out[i] with !usable(i, now) when `out` is given (size() long).
  // A change from the last state seen is logged once, by whichever thread
  // sees it first, and an entry counted. A few relaxed loads per instance:
  // cheap enough for every pick.
  bool check(Clock::time_point now, std::span<std::uint8_t> out = {});
  // The state the last check() saw, and how many times the group entered
  // panic (over reloads).
  bool panic() const noexcept { return panic_.load(std::memory_order_relaxed); }
  std::uint64_t panic_entries() const noexcept { return panic_entries_.load(std::memory_order_relaxed); }
  // Requests waiting for a slot (max_conns), over all workers.
  SlotQueue& queue() noexcept { return queue_; }
  const SlotQueue& queue() const noexcept { return queue_; }

 private:
  void note_panic(bool panic, std::size_t out);

  GroupConfig config_;
  std::vector<std::shared_ptr<InstanceState>> instances_;
  std::atomic<bool> panic_{false};
  std::atomic<std::uint64_t> panic_entries_{0};
  SlotQueue queue_;
};

// Counters a pool keeps for /metrics (single writer: the worker).
struct PoolStats {
  std::atomic<std::uint64_t> opened{0};
  std::atomic<std::uint64_t> reused{0};
  std::atomic<std::uint64_t> tls_handshakes{0};  // of the opened ones: TLS ...
  std::atomic<std::uint64_t> tls_resumed{0};     // ... and resuming a session
  static void inc(std::atomic<std::uint64_t>& c) noexcept {
    c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
};

class Pool {
 public:
  // `worker`: the owning worker's index, where its round robin starts.
  // `previous`: this worker's pool of the group being replaced; its idle
  // connections to instances that stay (same InstanceState, same TLS
  // settings) move over.
  Pool(std::shared_ptr<Group> group, PoolStats* stats, std::size_t worker = 0, Pool* previous = nullptr);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  Group& group() noexcept { return *group_; }
  Balancer& balancer() noexcept { return balancer_; }
  PoolStats& stats() noexcept { return *stats_; }

  // An idle keep-alive connection to instance i, most recently used first;
  // null if none.
  std::unique_ptr<Connection> take_idle(std::size_t i, Clock::time_point now);
  // Keeps c for reuse if the pool has room, else closes it.
  void give_back(std::unique_ptr<Connection> c, Clock::time_point now);
  // c was taken from `from`, an older pool of this group on this worker
  // (replaced by a reload or membership change while c was in use): kept
  // here if its instance is still in the group with the same TLS settings.
  void give_back(std::unique_ptr<Connection> c, Clock::time_point now, const Pool& from);

 private:
  void take_over(Pool& previous);

  std::shared_ptr<Group> group_;
  PoolStats* stats_;
  Balancer balancer_;
  std::vector<std::vector<std::unique_ptr<Connection>>> idle_;
};

}  // namespace gateway::upstreams
