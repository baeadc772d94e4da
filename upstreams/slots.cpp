#include "upstreams/slots.hpp"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/container/small_vector.hpp>

#include "upstreams/group.hpp"
#include "upstreams/slow_start.hpp"

namespace gateway::upstreams {

bool try_take_slot(std::atomic<int>& in_flight, int max_conns) noexcept {
  if (max_conns <= 0) {
    in_flight.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  int n = in_flight.load(std::memory_order_relaxed);
  do {
    if (full(n, max_conns)) return false;
  } while (!in_flight.compare_exchange_weak(n, n + 1, std::memory_order_relaxed));
  return true;
}

std::shared_ptr<SlotQueue::Waiter> SlotQueue::enter(const boost::asio::any_io_executor& ex, int max) {
  std::lock_guard lock(mutex_);
  if (static_cast<int>(waiters_.size()) >= max) {
    rejections.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  auto w = std::make_shared<Waiter>(ex);
  waiters_.push_back(w);
  waiting_.store(static_cast<int>(waiters_.size()));
  return w;
}

void SlotQueue::rejoin(const std::shared_ptr<Waiter>& w) {
  std::lock_guard lock(mutex_);
  if (std::find(waiters_.begin(), waiters_.end(), w) != waiters_.end()) return;
  waiters_.push_front(w);
  waiting_.store(static_cast<int>(waiters_.size()));
}

void SlotQueue::remove(const std::shared_ptr<Waiter>& w) {
  if (auto it = std::find(waiters_.begin(), waiters_.end(), w); it != waiters_.end()) waiters_.erase(it);
  waiting_.store(static_cast<int>(waiters_.size()));
}

void SlotQueue::leave(const std::shared_ptr<Waiter>& w) {
  std::lock_guard lock(mutex_);
  remove(w);
}

void SlotQueue::slot_freed() {
  std::shared_ptr<Waiter> w;
  {
    std::lock_guard lock(mutex_);
    if (waiters_.empty()) return;
    w = std::move(waiters_.front());
    waiters_.pop_front();
    waiting_.store(static_cast<int>(waiters_.size()));
  }
  wakeups.fetch_add(1, std::memory_order_relaxed);
  // The timer belongs to the waiter's worker: cancel it there.
  auto ex = w->timer.get_executor();
  boost::asio::post(ex, [w = std::move(w)] { w->timer.cancel(); });
}

Slot::~Slot() {
  // seq_cst, as the waiter's enter-then-pick: either the waiter's pick sees
  // this slot free, or this sees the waiter and wakes it.
  group_.instance(i_).in_flight.fetch_sub(1);
  auto& q = group_.queue();
  if (q.waiting() > 0) q.slot_freed();
}

SlotPick pick_with_slot(Group& group, Balancer& balancer, std::span<std::uint8_t> excluded, std::uint64_t hash,
                        Clock::time_point now) {
  const std::size_t n = group.size();
  const int max_conns = group.config().max_conns;
  // Inline for groups of up to 16: a pick allocates nothing.
  boost::container::small_vector<int, 16> active(n), weights(n);
  bool allowed = false;
  for (std::size_t k = 0; k < n; ++k) {
    active[k] = group.instance(k).in_flight.load(std::memory_order_relaxed);
    allowed = allowed || !excluded[k];
    if (full(active[k], max_conns)) excluded[k] = 1;
  }
  const bool ramping = slow_start_weights(group, now, weights);
  const std::span<const int> effective = ramping ? std::span<const int>(weights) : std::span<const int>{};
  for (std::size_t k = 0; k < n; ++k) {
    int i = balancer.pick(excluded, active, hash, effective);
    if (i < 0) break;
    if (try_take_slot(group.instance(static_cast<std::size_t>(i)).in_flight, max_conns)) return {i, false};
    excluded[static_cast<std::size_t>(i)] = 1;  // filled up on another worker since the look
  }
  return {-1, allowed};
}

}  // namespace gateway::upstreams
