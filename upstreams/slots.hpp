// Per-instance connection limits and the group's queue (HAProxy's maxconn
// and maxqueue): with `max_conns: N` an instance takes at most N requests in
// flight, counted over all workers in InstanceState::in_flight. When every
// instance a pick may use is full, the request waits in its group's
// SlotQueue, at most max_queue of them (over all workers), each at most
// queue_timeout; then the client gets a 503.
//
// Wake-ups cross workers: a slot freed on any worker (Slot's destructor)
// pops the longest waiter and posts a cancel of its timer to that waiter's
// own executor, which then picks again. A waiter also re-checks on its own
// every kQueueRecheck, a safety net against a wake-up that went to a waiter
// who could not use the slot (its tried instances differ); the counters
// show how often that happens.
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <span>

#include "base/deadline.hpp"

namespace gateway::upstreams {

class Balancer;
class Group;

constexpr std::chrono::milliseconds kQueueRecheck{250};

// Whether an instance with `in_flight` requests is full at `max_conns`
// (0: never).
constexpr bool full(int in_flight, int max_conns) noexcept { return max_conns > 0 && in_flight >= max_conns; }

// Takes a slot on an instance: in_flight goes up by one unless it is full
// (then false, nothing changed). Exact under races between workers.
bool try_take_slot(std::atomic<int>& in_flight, int max_conns) noexcept;

class SlotQueue {
 public:
  struct Waiter {
    explicit Waiter(const boost::asio::any_io_executor& ex) : timer(ex) {}
    boost::asio::steady_timer timer;  // touched only on its executor
  };

  // Joins the queue's end, unless `max` already wait: null then, and a
  // rejection is counted.
  std::shared_ptr<Waiter> enter(const boost::asio::any_io_executor& ex, int max);
  // Back at the front after a wake-up that did not give it a slot (it was
  // first in line); nothing if it is still in the queue.
  void rejoin(const std::shared_ptr<Waiter>& w);
  // Leaves the queue (got a slot, timed out, or gave up).
  void leave(const std::shared_ptr<Waiter>& w);
  // A slot was freed: the longest waiter, if any, picks again.
  void slot_freed();

  int waiting() const noexcept { return waiting_.load(); }

  std::atomic<std::uint64_t> timeouts{0};    // waited queue_timeout in vain
  std::atomic<std::uint64_t> rejections{0};  // the queue was full
  std::atomic<std::uint64_t> wakeups{0};     // waiters woken by a freed slot
  std::atomic<std::uint64_t> rechecks{0};    // waits that ended on the timer (recheck or timeout)

 private:
  void remove(const std::shared_ptr<Waiter>& w);  // with mutex_ held

  std::mutex mutex_;
  std::deque<std::shared_ptr<Waiter>> waiters_;
  std::atomic<int> waiting_{0};  // waiters_.size(), readable without the lock
};

// A slot taken with try_take_slot on instance i of a group, given back when
// it goes: the request to that instance ended, whatever the outcome.
class Slot {
 public:
  Slot(Group& group, std::size_t i) noexcept : group_(group), i_(i) {}
  ~Slot();
  Slot(const Slot&) = delete;
  Slot& operator=(const Slot&) = delete;

 private:
  Group& group_;
  std::size_t i_;
};

// What pick_with_slot found: an instance with a slot taken on it (give it
// back with a Slot), or -1; blocked: -1 because every instance the pick may
// use is full (the request may wait in the queue).
struct SlotPick {
  int instance = -1;
  bool blocked = false;
};

// Picks an instance of `group` not excluded (excluded[i]; full ones are
// added to it) with the group's in-flight counts and, while an instance
// ramps up, its slow start weights, and takes a slot on it.
SlotPick pick_with_slot(Group& group, Balancer& balancer, std::span<std::uint8_t> excluded, std::uint64_t hash,
                        Clock::time_point now);

}  // namespace gateway::upstreams
