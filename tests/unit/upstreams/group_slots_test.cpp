// Tests for the parts of balancing that read a Group's shared state
// (issue 12): pick_with_slot and Slot on the in-flight counts (max_conns),
// slow start weights and when an instance counts as joined (joined_at).
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <vector>

#include "upstreams/group.hpp"
#include "upstreams/slots.hpp"
#include "upstreams/slow_start.hpp"

using namespace gateway;
using namespace gateway::upstreams;
using namespace std::chrono_literals;

namespace {

GroupConfig fleet(std::vector<std::uint16_t> ports, int max_conns = 0, Duration slow_start = Duration{0}) {
  GroupConfig c;
  c.name = "svc";
  for (auto p : ports) {
    InstanceConfig ic;
    ic.address = {"127.0.0.1:" + std::to_string(p), "127.0.0.1", p};
    c.instances.push_back(ic);
  }
  c.max_conns = max_conns;
  c.slow_start = slow_start;
  return c;
}

std::int64_t ns(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

}  // namespace

TEST_SUITE("group slots") {
  TEST_CASE("picks take slots up to max_conns per instance, then the pick is blocked, and a Slot gives its back") {
    Group g(fleet({9001, 9002}, 1));
    Balancer b(Balance::least_conn, {1, 1});
    std::vector<std::uint8_t> excluded(2, 0);
    auto first = pick_with_slot(g, b, excluded, 0, Clock::now());
    REQUIRE(first.instance >= 0);
    excluded.assign(2, 0);
    auto second = pick_with_slot(g, b, excluded, 0, Clock::now());
    REQUIRE(second.instance >= 0);
    CHECK(second.instance != first.instance);
    excluded.assign(2, 0);
    auto third = pick_with_slot(g, b, excluded, 0, Clock::now());
    CHECK(third.instance == -1);
    CHECK(third.blocked);
    {
      Slot given_back(g, static_cast<std::size_t>(first.instance));
    }
    CHECK(g.instance(static_cast<std::size_t>(first.instance)).in_flight.load() == 0);
    excluded.assign(2, 0);
    CHECK(pick_with_slot(g, b, excluded, 0, Clock::now()).instance == first.instance);
  }

  TEST_CASE("a pick with nothing allowed is not blocked: no slot would help") {
    Group g(fleet({9001}, 1));
    Balancer b(Balance::round_robin, {1});
    std::vector<std::uint8_t> excluded{1};
    auto p = pick_with_slot(g, b, excluded, 0, Clock::now());
    CHECK(p.instance == -1);
    CHECK_FALSE(p.blocked);
  }

  TEST_CASE("without max_conns every pick takes a slot and in_flight counts them") {
    Group g(fleet({9001}));
    Balancer b(Balance::round_robin, {1});
    for (int i = 0; i < 5; ++i) {
      std::vector<std::uint8_t> excluded{0};
      CHECK(pick_with_slot(g, b, excluded, 0, Clock::now()).instance == 0);
    }
    CHECK(g.instance(0).in_flight.load() == 5);
  }
}

TEST_SUITE("slow start") {
  TEST_CASE("joined_at: the first load starts long ago, a reload keeps an instance's time, a new one joins now") {
    Group first(fleet({9001, 9002}, 0, Duration{30'000}));
    CHECK(first.instance(0).usable_since.load() == 0);
    first.instance(1).usable_since.store(12345);
    auto now = Clock::now();
    Group second(fleet({9002, 9003}, 0, Duration{30'000}), &first);
    CHECK(second.instance(0).usable_since.load() == 12345);
    CHECK(second.instance(1).usable_since.load() >= ns(now));
    CHECK(joined_at(&first, first.instance(0).address, now) == 0);
    CHECK(joined_at(&first, second.instance(1).address, now) == ns(now));
    CHECK(joined_at(nullptr, second.instance(1).address, now) == 0);
  }

  TEST_CASE("an ejected instance ramps from the end of its fail_timeout, one back early from now") {
    auto config = fleet({9001, 9002}, 0, Duration{30'000});
    config.max_fails = 1;
    config.fail_timeout = 10s;
    Group g(config);
    auto now = Clock::now();
    g.report_failure(1, now);
    CHECK(g.instance(1).usable_since.load() == ns(now + 10s));
    std::vector<int> w(2);
    CHECK(slow_start_weights(g, now + 10s, w));
    CHECK(w == std::vector<int>{1000, 100});
    CHECK(slow_start_weights(g, now + 25s, w));
    CHECK(w == std::vector<int>{1000, 550});
    CHECK_FALSE(slow_start_weights(g, now + 40s, w));
    g.report_success(1);  // back before its fail_timeout ended (tried in panic)
    CHECK(g.instance(1).usable_since.load() <= ns(Clock::now()));
    CHECK(g.instance(1).usable_since.load() >= ns(now));
  }

  TEST_CASE("without slow_start no weights are given") {
    Group g(fleet({9001, 9002}));
    g.instance(1).usable_since.store(ns(Clock::now()));
    std::vector<int> w(2);
    CHECK_FALSE(slow_start_weights(g, Clock::now(), w));
  }
}
