// Tests for upstreams/group: passive health (max_fails / fail_timeout),
// active probe verdicts, the lone instance and panic, and health carried
// over on reload. Time is passed in
// explicitly; nothing sleeps. Addresses are IP literals, so nothing resolves.
#include "upstreams/group.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <string>

using gateway::upstreams::HealthCheckConfig;
using gateway::upstreams::InstanceConfig;
using gateway::upstreams::GroupConfig;
using gateway::upstreams::Group;
using namespace std::chrono_literals;

namespace {

using Clock = gateway::Clock;
const Clock::time_point t0 = Clock::time_point{} + 1000s;

InstanceConfig instance(std::uint16_t port) {
  InstanceConfig ic;
  ic.address.host = "127.0.0.1";
  ic.address.port = port;
  ic.address.text = "127.0.0.1:" + std::to_string(port);
  return ic;
}

GroupConfig upstream(std::initializer_list<std::uint16_t> ports, int max_fails = 2,
                        gateway::Duration fail_timeout = 10s) {
  GroupConfig c;
  c.name = "svc";
  for (auto p : ports) c.instances.push_back(instance(p));
  c.max_fails = max_fails;
  c.fail_timeout = fail_timeout;
  return c;
}

GroupConfig probed(std::initializer_list<std::uint16_t> ports, int passes, int fails) {
  auto c = upstream(ports);
  HealthCheckConfig hc;
  hc.passes = passes;
  hc.fails = fails;
  c.health = hc;
  return c;
}

}  // namespace

TEST_SUITE("upstream group: passive health") {
  TEST_CASE("a new group has every instance usable, with its address resolved") {
    Group g(upstream({9001, 9002}));
    CHECK(g.name() == "svc");
    REQUIRE(g.size() == 2u);
    CHECK(g.usable(0, t0));
    CHECK(g.usable(1, t0));
    REQUIRE(g.instance(1).endpoints.size() == 1u);
    CHECK(g.instance(1).endpoints[0].port() == 9002);
    CHECK(g.instance(1).endpoints[0].address().to_string() == "127.0.0.1");
  }

  TEST_CASE("max_fails failures take an instance out for fail_timeout, then it is back") {
    Group g(upstream({9001, 9002}, 2, 10s));
    g.report_failure(0, t0);
    CHECK(g.usable(0, t0));  // one failure is not enough
    g.report_failure(0, t0 + 1s);
    CHECK_FALSE(g.usable(0, t0 + 1s));
    CHECK_FALSE(g.usable(0, t0 + 10s + 999ms));
    CHECK(g.usable(0, t0 + 11s));  // 10 s after the failure that ejected it
    CHECK(g.usable(1, t0 + 1s));   // the other instance is untouched
    CHECK(g.instance(0).failures_total.load() == 2u);
    CHECK(g.instance(0).ejections_total.load() == 1u);
    CHECK(g.instance(0).fails.load() == 0);  // the count starts over after an ejection
  }

  TEST_CASE("after an ejection it takes max_fails new failures to eject again") {
    Group g(upstream({9001, 9002}, 2, 10s));
    g.report_failure(0, t0);
    g.report_failure(0, t0);
    REQUIRE_FALSE(g.usable(0, t0));
    auto later = t0 + 20s;
    REQUIRE(g.usable(0, later));
    g.report_failure(0, later);
    CHECK(g.usable(0, later));
    g.report_failure(0, later);
    CHECK_FALSE(g.usable(0, later));
    CHECK(g.usable(0, later + 10s));
    CHECK(g.instance(0).ejections_total.load() == 2u);
  }

  TEST_CASE("a success resets the failure count") {
    Group g(upstream({9001, 9002}, 2, 10s));
    g.report_failure(0, t0);
    g.report_success(0);
    CHECK(g.instance(0).fails.load() == 0);
    g.report_failure(0, t0 + 1s);
    CHECK(g.usable(0, t0 + 1s));  // not two in a row
    g.report_failure(0, t0 + 2s);
    CHECK_FALSE(g.usable(0, t0 + 2s));
    CHECK(g.instance(0).failures_total.load() == 3u);
  }

  TEST_CASE("max_fails 0 never ejects") {
    Group g(upstream({9001, 9002}, 0, 10s));
    for (int i = 0; i < 50; ++i) g.report_failure(0, t0);
    CHECK(g.usable(0, t0));
    CHECK(g.instance(0).failures_total.load() == 50u);
    CHECK(g.instance(0).ejections_total.load() == 0u);
  }

  TEST_CASE("max_fails 1 ejects on the first failure") {
    Group g(upstream({9001, 9002}, 1, 5s));
    g.report_failure(0, t0);
    CHECK_FALSE(g.usable(0, t0));
    CHECK_FALSE(g.usable(0, t0 + 4s));
    CHECK(g.usable(0, t0 + 5s));
  }
}

TEST_SUITE("upstream group: active health") {
  TEST_CASE("probe failures mark an instance down after `fails` in a row, passes bring it back") {
    Group g(probed({9001, 9002}, 2, 3));
    CHECK_FALSE(g.report_probe(0, false));
    CHECK_FALSE(g.report_probe(0, false));
    CHECK(g.usable(0, t0));
    CHECK(g.report_probe(0, false));  // third in a row: down, a change
    CHECK_FALSE(g.usable(0, t0));
    CHECK_FALSE(g.report_probe(0, false));  // still down: no change
    CHECK_FALSE(g.usable(0, t0));
    CHECK_FALSE(g.report_probe(0, true));  // one pass of two
    CHECK_FALSE(g.usable(0, t0));
    CHECK(g.report_probe(0, true));  // second pass: up, a change
    CHECK(g.usable(0, t0));
    CHECK_FALSE(g.report_probe(0, true));  // still up: no change
    CHECK(g.usable(1, t0));
  }

  TEST_CASE("a pass in between starts the failure streak over") {
    Group g(probed({9001}, 1, 2));
    CHECK_FALSE(g.report_probe(0, false));
    CHECK_FALSE(g.report_probe(0, true));
    CHECK_FALSE(g.report_probe(0, false));
    CHECK(g.usable(0, t0));
    CHECK(g.report_probe(0, false));
    CHECK_FALSE(g.usable(0, t0));
    CHECK(g.report_probe(0, true));  // passes = 1: one pass is enough
    CHECK(g.usable(0, t0));
  }

  TEST_CASE("a failed probe also keeps an instance out past its passive timeout") {
    Group g(probed({9001}, 1, 1));
    CHECK(g.report_probe(0, false));
    CHECK_FALSE(g.usable(0, t0 + 3600s));
  }
}

TEST_SUITE("upstream group: reload") {
  TEST_CASE("a new group keeps the health of instances at the same address") {
    Group old_group(probed({9001, 9002, 9003}, 2, 1));
    old_group.report_failure(0, t0);
    old_group.report_failure(0, t0);  // 9001: ejected until t0 + 10 s
    old_group.report_probe(1, false);  // 9002: probe says down
    old_group.report_failure(2, t0);   // 9003: one failure counted

    Group next(probed({9003, 9002, 9004, 9001}, 2, 1), &old_group);
    REQUIRE(next.size() == 4u);
    CHECK(next.instance(0).address.text == "127.0.0.1:9003");
    CHECK(next.instance(0).fails.load() == 1);
    CHECK(next.usable(0, t0));
    CHECK_FALSE(next.usable(1, t0));  // 9002 still down by probe
    CHECK_FALSE(next.instance(1).probe_up.load());
    CHECK(next.instance(1).probe_streak.load() == -1);
    CHECK(next.usable(2, t0));  // 9004 is new: healthy
    CHECK(next.instance(2).fails.load() == 0);
    CHECK_FALSE(next.usable(3, t0));  // 9001 still ejected ...
    CHECK(next.usable(3, t0 + 10s));  // ... for the same time as before

    // 9003 goes on counting from its carried-over failure.
    next.report_failure(0, t0);
    CHECK_FALSE(next.usable(0, t0));
    // 9002 needs its passes to come back, as before the reload.
    CHECK_FALSE(next.report_probe(1, true));
    CHECK(next.report_probe(1, true));
    CHECK(next.usable(1, t0));
  }

  TEST_CASE("without a previous group, or with other addresses, health starts fresh") {
    Group old_group(upstream({9001, 9002}, 1, 10s));
    old_group.report_failure(0, t0);
    REQUIRE_FALSE(old_group.usable(0, t0));
    Group other(upstream({9005}, 1, 10s), &old_group);
    CHECK(other.usable(0, t0));
    Group fresh(upstream({9001}, 1, 10s));
    CHECK(fresh.usable(0, t0));
  }
}

TEST_SUITE("upstream group: lone instance and panic") {
  TEST_CASE("the only instance of a group is never ejected, its failures are still counted") {
    Group g(upstream({9001}, 1, 10s));
    for (int i = 0; i < 5; ++i) g.report_failure(0, t0);
    CHECK(g.usable(0, t0));
    CHECK(g.instance(0).failures_total.load() == 5u);
    CHECK(g.instance(0).ejections_total.load() == 0u);
    CHECK_FALSE(g.check(t0));
  }

  TEST_CASE("a lone instance down by its probe is out, and the group is in panic, so it is still used") {
    Group g(probed({9001}, 1, 1));
    CHECK(g.report_probe(0, false));
    CHECK_FALSE(g.usable(0, t0));
    std::uint8_t out[1] = {0};
    CHECK(g.check(t0, out));
    CHECK(out[0] == 1);
  }

  TEST_CASE("check: out instances, the panic state, and one entry per change") {
    Group g(upstream({9001, 9002, 9003}, 1, 10s));
    std::uint8_t out[3] = {7, 7, 7};
    CHECK_FALSE(g.check(t0, out));
    CHECK((out[0] == 0 && out[1] == 0 && out[2] == 0));
    g.report_failure(0, t0);
    CHECK_FALSE(g.check(t0, out));  // 2 of 3 usable
    CHECK(out[0] == 1);
    g.report_failure(1, t0 + 1s);
    CHECK(g.check(t0 + 1s, out));  // 1 of 3 usable: below 50 %
    CHECK(g.panic());
    CHECK(g.check(t0 + 2s));  // still in panic: no new entry
    CHECK(g.panic_entries() == 1u);
    CHECK_FALSE(g.check(t0 + 10s, out));  // a is back after fail_timeout
    CHECK((out[0] == 0 && out[1] == 1));
    CHECK_FALSE(g.panic());
    CHECK_FALSE(g.check(t0 + 11s));  // all back
    g.report_failure(0, t0 + 20s);
    g.report_failure(2, t0 + 20s);
    CHECK(g.check(t0 + 20s));
    CHECK(g.panic_entries() == 2u);
  }

  TEST_CASE("panic_threshold 0% never panics, even with every instance out") {
    auto config = upstream({9001, 9002}, 1, 10s);
    config.panic_threshold = 0;
    Group g(config);
    g.report_failure(0, t0);
    g.report_failure(1, t0);
    std::uint8_t out[2] = {0, 0};
    CHECK_FALSE(g.check(t0, out));
    CHECK((out[0] == 1 && out[1] == 1));
    CHECK(g.panic_entries() == 0u);
  }

  TEST_CASE("a success from an ejected instance (tried in panic) brings it back at once") {
    Group g(upstream({9001, 9002}, 1, 10s));
    g.report_failure(0, t0);
    REQUIRE_FALSE(g.usable(0, t0));
    g.report_success(0);
    CHECK(g.usable(0, t0));
    CHECK(g.instance(0).ejections_total.load() == 1u);
  }

  TEST_CASE("a reload keeps the panic state and the count of entries") {
    Group old_group(upstream({9001, 9002}, 1, 10s));
    old_group.report_failure(0, t0);
    old_group.report_failure(1, t0);
    REQUIRE(old_group.check(t0));
    Group next(upstream({9001, 9002}, 1, 10s), &old_group);
    CHECK(next.panic());
    CHECK(next.panic_entries() == 1u);
    CHECK(next.check(t0));  // no second entry for the same panic
    CHECK(next.panic_entries() == 1u);
  }
}
