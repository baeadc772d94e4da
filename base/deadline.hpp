// Coarse per-thread deadlines for protocol phases (header read, body read,
// keep-alive idle, upstream connect and read).
//
// Each worker owns one Deadlines and calls expire(now) from a periodic tick.
// Arming is two stores and a list link: no syscall and no allocation, unlike
// one kernel-backed timer per connection re-armed on every request. The cost
// is resolution: a deadline fires within one tick after it passes.
// Not thread-safe: a Deadline is armed and expired on its owner's thread.
#pragma once

#include <boost/intrusive/list.hpp>
#include <time.h>

#include <chrono>
#include <utility>

namespace gateway {

using Clock = std::chrono::steady_clock;

class Deadline : public boost::intrusive::list_base_hook<boost::intrusive::link_mode<boost::intrusive::auto_unlink>> {
 public:
  using Callback = void (*)(void* ctx);

  Deadline(Callback on_expire, void* ctx) noexcept : on_expire_(on_expire), ctx_(ctx) {}
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;

  bool armed() const noexcept { return is_linked(); }
  bool expired() const noexcept { return expired_; }
  Clock::time_point when() const noexcept { return when_; }

 private:
  friend class Deadlines;
  Callback on_expire_;
  void* ctx_;
  Clock::time_point when_{};
  bool expired_ = false;
};

class Deadlines {
 public:
  Deadlines() = default;
  Deadlines(const Deadlines&) = delete;
  Deadlines& operator=(const Deadlines&) = delete;
  ~Deadlines() { list_.clear(); }

  // The coarse monotonic clock (same epoch as steady_clock, a few ms of
  // resolution): ample for deadlines checked every tick, and several
  // times cheaper to read, on every phase of every request.
  static Clock::time_point coarse_now() noexcept {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return Clock::time_point(std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec));
  }

  // (Re)arms d to fire at now + timeout; clears a previous expiry.
  template <class Rep, class Period>
  void arm(Deadline& d, std::chrono::duration<Rep, Period> timeout, Clock::time_point now = coarse_now()) {
    d.when_ = now + std::chrono::duration_cast<Clock::duration>(timeout);
    d.expired_ = false;
    if (!d.is_linked()) list_.push_back(d);
  }
  static void disarm(Deadline& d) noexcept {
    if (d.is_linked()) d.unlink();
  }

  // Fires every deadline at or before now. A callback may re-arm or destroy
  // its own deadline but must not destroy others synchronously (closing a
  // socket only schedules its handlers, so the usual callbacks qualify).
  void expire(Clock::time_point now) {
    for (auto it = list_.begin(); it != list_.end();) {
      Deadline& d = *it++;
      if (d.when_ > now) continue;
      // Move the iterator past d before unlinking it: the callback may
      // destroy or re-arm d.
      d.unlink();
      d.expired_ = true;
      d.on_expire_(d.ctx_);
    }
  }

  std::size_t size() const noexcept { return list_.size(); }

 private:
  using List = boost::intrusive::list<Deadline, boost::intrusive::constant_time_size<false>>;
  List list_;
};

}  // namespace gateway
