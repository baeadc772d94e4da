// Tests for balancing a fleet of unequal instances (issue 12): power of two
// choices, least connections on shared counts and effective weights, the
// slow start ramp (upstreams/slow_start.hpp) and slots (upstreams/slots.hpp).
#include <doctest/doctest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <vector>

#include "upstreams/balancer.hpp"
#include "upstreams/slots.hpp"
#include "upstreams/slow_start.hpp"

using namespace gateway;
using namespace gateway::upstreams;
using namespace std::chrono_literals;

namespace {

using Mask = std::vector<std::uint8_t>;

std::vector<int> tally(Balancer& b, int n, const Mask& excluded, const std::vector<int>& active,
                       const std::vector<int>& weights = {}) {
  std::vector<int> counts(b.size(), 0);
  for (int i = 0; i < n; ++i) {
    int k = b.pick(excluded, active, 0, weights);
    REQUIRE(k >= 0);
    ++counts[static_cast<std::size_t>(k)];
  }
  return counts;
}

}  // namespace

TEST_SUITE("balancer: power of two choices") {
  TEST_CASE("p2c never picks the most loaded of three: it loses every draw it is in") {
    Balancer b(Balance::p2c, {1, 1, 1});
    auto counts = tally(b, 3000, {0, 0, 0}, {1, 9, 2});
    CHECK(counts[1] == 0);
    // Instance 0 wins every draw it is in (2 of 3 pairs), instance 2 the one
    // without it: about 2/3 and 1/3.
    CHECK(counts[0] > 1800);
    CHECK(counts[2] > 800);
  }

  TEST_CASE("p2c with equal loads spreads about evenly") {
    Balancer b(Balance::p2c, {1, 1, 1, 1});
    auto counts = tally(b, 4000, {0, 0, 0, 0}, {0, 0, 0, 0});
    for (int c : counts) CHECK((c > 800 && c < 1200));
  }

  TEST_CASE("p2c draws two distinct candidates: of two, the less loaded always wins") {
    Balancer b(Balance::p2c, {1, 1});
    CHECK(tally(b, 100, {0, 0}, {3, 1}) == std::vector<int>{0, 100});
    CHECK(tally(b, 100, {0, 0}, {0, 1}) == std::vector<int>{100, 0});
  }

  TEST_CASE("p2c compares in-flight requests relative to weight") {
    Balancer b(Balance::p2c, {4, 1});
    // 3/4 < 1/1: the heavier one wins though it has more in flight.
    CHECK(tally(b, 50, {0, 0}, {3, 1}) == std::vector<int>{50, 0});
    CHECK(tally(b, 50, {0, 0}, {5, 1}) == std::vector<int>{0, 50});
  }

  TEST_CASE("p2c skips excluded instances: one left is always it, none is -1") {
    Balancer b(Balance::p2c, {1, 1, 1});
    CHECK(tally(b, 20, {1, 0, 1}, {0, 9, 0}) == std::vector<int>{0, 20, 0});
    CHECK(b.pick(Mask{1, 1, 1}, std::vector<int>{0, 0, 0}) == -1);
    auto counts = tally(b, 1000, {0, 1, 0}, {0, 0, 0});
    CHECK(counts[1] == 0);
  }

  TEST_CASE("p2c is a function of its inputs: the same seed gives the same picks, another seed others") {
    Balancer a(Balance::p2c, {1, 1, 1, 1, 1}, 3), b(Balance::p2c, {1, 1, 1, 1, 1}, 3), c(Balance::p2c, {1, 1, 1, 1, 1}, 4);
    std::vector<int> pa, pb, pc;
    const std::vector<int> active{0, 0, 0, 0, 0};
    for (int i = 0; i < 50; ++i) {
      pa.push_back(a.pick(Mask(5, 0), active));
      pb.push_back(b.pick(Mask(5, 0), active));
      pc.push_back(c.pick(Mask(5, 0), active));
    }
    CHECK(pa == pb);
    CHECK(pa != pc);
  }
}

TEST_SUITE("balancer: effective weights") {
  TEST_CASE("least_conn divides by the effective weights when given") {
    Balancer b(Balance::least_conn, {1, 1, 1});
    // Instance 0 ramps at 10%: 1 in flight weighs as 10.
    CHECK(b.pick(Mask{0, 0, 0}, std::vector<int>{1, 3, 4}) == 0);
    CHECK(b.pick(Mask{0, 0, 0}, std::vector<int>{1, 3, 4}, 0, std::vector<int>{100, 1000, 1000}) == 1);
  }

  TEST_CASE("round robin becomes smooth weighted while weights are given") {
    Balancer b(Balance::round_robin, {1, 1});
    CHECK(tally(b, 110, {0, 0}, {}, {100, 1000}) == std::vector<int>{10, 100});
    CHECK(tally(b, 10, {0, 0}, {}) == std::vector<int>{5, 5});
  }

  TEST_CASE("weighted uses the effective weights, hash ignores them") {
    Balancer w(Balance::weighted, {2, 1});
    CHECK(tally(w, 30, {0, 0}, {}, {1000, 2000}) == std::vector<int>{10, 20});
    Balancer h(Balance::hash, {1, 1});
    int plain = h.pick(Mask{0, 0}, {}, 42);
    CHECK(h.pick(Mask{0, 0}, {}, 42, std::vector<int>{1, 1000}) == plain);
  }
}

TEST_SUITE("slow start") {
  struct RampCase {
    int weight;
    std::chrono::nanoseconds since;
    Duration period;
    int expected;
  };
  constexpr RampCase kRamp[] = {
      {1, 0ns, Duration{0}, 1000},             // off
      {1, -5s, Duration{0}, 1000},             // off, even before
      {1, 0ns, Duration{30'000}, 100},         // the floor: 10%
      {1, -2s, Duration{30'000}, 100},         // not back yet (tried in panic)
      {1, 15s, Duration{30'000}, 550},         // half way: 10% + 45%
      {1, 30s, Duration{30'000}, 1000},        // done
      {1, 3600s, Duration{30'000}, 1000},      // long done
      {4, 0ns, Duration{10'000}, 400},
      {4, 5s, Duration{10'000}, 2200},
      {4, 10s, Duration{10'000}, 4000},
      {1000, 1ms, Duration{1}, 1'000'000},     // weight 1000, period 1ms
      {3, 27s, Duration{30'000}, 2730},
  };

  TEST_CASE("the effective weight ramps linearly from 10% to the weight") {
    for (const auto& c : kRamp) {
      CAPTURE(c.weight);
      CAPTURE(c.since.count());
      CHECK(ramp_weight(c.weight, c.since, c.period) == c.expected);
    }
  }

  TEST_CASE("the ramp never decreases over the period") {
    int last = 0;
    for (auto t = 0ms; t <= 31'000ms; t += 250ms) {
      int w = ramp_weight(2, t, Duration{30'000});
      CHECK(w >= last);
      last = w;
    }
    CHECK(last == 2000);
  }
}

TEST_SUITE("slots") {
  TEST_CASE("a slot is taken below max_conns only, and always without a limit") {
    std::atomic<int> n{0};
    CHECK(try_take_slot(n, 2));
    CHECK(try_take_slot(n, 2));
    CHECK_FALSE(try_take_slot(n, 2));
    CHECK(n.load() == 2);
    CHECK(try_take_slot(n, 0));
    CHECK(n.load() == 3);
    CHECK(full(2, 2));
    CHECK_FALSE(full(1, 2));
    CHECK_FALSE(full(100, 0));
  }

  TEST_CASE("the queue takes max_queue waiters, counts a rejection past that, and wakes the longest waiting first") {
    boost::asio::io_context io;
    SlotQueue q;
    auto a = q.enter(io.get_executor(), 2);
    auto b = q.enter(io.get_executor(), 2);
    REQUIRE(a);
    REQUIRE(b);
    CHECK(q.enter(io.get_executor(), 2) == nullptr);
    CHECK(q.rejections.load() == 1);
    CHECK(q.waiting() == 2);

    bool a_woken = false, b_woken = false;
    a->timer.expires_after(std::chrono::hours(1));
    b->timer.expires_after(std::chrono::hours(1));
    a->timer.async_wait([&](boost::system::error_code ec) { a_woken = ec == boost::asio::error::operation_aborted; });
    b->timer.async_wait([&](boost::system::error_code ec) { b_woken = ec == boost::asio::error::operation_aborted; });
    q.slot_freed();
    io.poll();
    CHECK(a_woken);
    CHECK_FALSE(b_woken);
    CHECK(q.waiting() == 1);
    q.rejoin(a);  // no slot after all: first in line again
    q.rejoin(a);  // once
    CHECK(q.waiting() == 2);
    q.leave(a);
    q.leave(b);
    CHECK(q.waiting() == 0);
    q.slot_freed();  // nobody waits: nothing happens
    CHECK(q.wakeups.load() == 1);
    b->timer.cancel();
    io.poll();
  }

  TEST_CASE("a queue of 0 takes nobody") {
    boost::asio::io_context io;
    SlotQueue q;
    CHECK(q.enter(io.get_executor(), 0) == nullptr);
    CHECK(q.rejections.load() == 1);
  }
}
