// Tests for upstreams/availability: which instances a pick may use, given
// passive ejection and probe verdicts ("out"), what the request already
// tried, the group's size and its panic threshold. Tables with exact
// results; the last cases walk a group through ejection, panic and back.
#include "upstreams/availability.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "upstreams/balancer.hpp"

using namespace gateway::upstreams;

namespace {

// "x.x" -> {1, 0, 1}: one character per instance, 'x' set.
std::vector<std::uint8_t> flags(std::string_view s) {
  std::vector<std::uint8_t> v;
  for (char c : s) v.push_back(c == 'x' ? 1 : 0);
  return v;
}

std::string excluded(std::string_view out, std::string_view tried, bool panic) {
  auto o = flags(out), t = flags(tried);
  std::vector<std::uint8_t> ex(o.size(), 7);
  exclude(o, t, panic, ex);
  std::string s;
  for (auto e : ex) s += e ? 'x' : '.';
  return s;
}

// Sends `requests` requests through round robin over three instances as
// the proxy does, retries: 1: pick, attempt, a failure marks the instance
// out (max_fails: 1), a success clears it. dead[i]: instance i refuses.
// Returns the instances each request tried ("ab c ": a, b, then c).
std::string walk(std::vector<std::uint8_t> out, const std::vector<std::uint8_t>& dead, int requests,
                 int& answered) {
  Balancer rr(Balance::round_robin, {1, 1, 1});
  std::string seen;
  for (int request = 0; request < requests; ++request) {
    auto tried = flags("...");
    for (int attempt = 0; attempt < 2; ++attempt) {
      std::size_t n_out = 0;
      for (auto o : out) n_out += o;
      std::vector<std::uint8_t> ex(3);
      exclude(out, tried, in_panic(3, n_out, 50), ex);
      int i = rr.pick(ex);
      REQUIRE(i >= 0);
      auto idx = static_cast<std::size_t>(i);
      seen += static_cast<char>('a' + i);
      tried[idx] = 1;
      out[idx] = dead[idx];
      if (!dead[idx]) {
        ++answered;
        break;
      }
    }
    seen += ' ';
  }
  return seen;
}

}  // namespace

TEST_CASE("availability: a lone instance is never ejected, any larger group may be") {
  CHECK_FALSE(may_eject(0));
  CHECK_FALSE(may_eject(1));
  CHECK(may_eject(2));
  CHECK(may_eject(14));
}

TEST_CASE("availability: panic when the usable share is below the threshold") {
  struct Row {
    std::size_t instances, out;
    int threshold;
    bool panic;
  };
  constexpr Row kRows[] = {
      // The default, 50 %: more than half out.
      {1, 0, 50, false},
      {1, 1, 50, true},   // a lone instance down by its probe is still used
      {2, 1, 50, false},  // half usable is not below half
      {2, 2, 50, true},
      {3, 1, 50, false},
      {3, 2, 50, true},
      {4, 2, 50, false},
      {4, 3, 50, true},
      {10, 5, 50, false},
      {10, 6, 50, true},
      {14, 7, 50, false},
      {14, 8, 50, true},
      // 0 % turns panic off, even with every instance out.
      {1, 1, 0, false},
      {3, 3, 0, false},
      // 100 %: panic as soon as one instance is out.
      {3, 0, 100, false},
      {3, 1, 100, true},
      {10, 1, 100, true},
      // Other thresholds, at their boundaries (usable * 100 < threshold * n).
      {10, 7, 30, false},  // 30 % usable
      {10, 8, 30, true},   // 20 % usable
      {3, 2, 34, true},    // 33.3 % usable
      {3, 2, 33, false},
      {4, 1, 75, false},   // 75 % usable
      {4, 2, 75, true},
      // Degenerate: no instances, or more out than there are.
      {0, 0, 50, false},
      {2, 5, 50, true},
  };
  for (const auto& r : kRows) {
    CAPTURE(r.instances);
    CAPTURE(r.out);
    CAPTURE(r.threshold);
    CHECK(in_panic(r.instances, r.out, r.threshold) == r.panic);
  }
}

TEST_CASE("availability: what a pick must avoid, in and out of panic") {
  struct Row {
    const char* out;    // x: ejected or down by its probe
    const char* tried;  // x: this request went there already
    bool panic;
    const char* excluded;
  };
  constexpr Row kRows[] = {
      // Not in panic: tried or out.
      {"...", "...", false, "..."},
      {"x..", "...", false, "x.."},
      {"x..", ".x.", false, "xx."},
      {"xx.", "..x", false, "xxx"},  // nothing left: the retry stops
      {"xxx", "...", false, "xxx"},  // panic off: every instance out is a 503
      // In panic, a first attempt goes anywhere.
      {"xx.", "...", true, "..."},
      {"xxx", "...", true, "..."},
      {"x", ".", true, "."},
      // In panic, a retry goes to an untried usable instance while there is one ...
      {"xx.", "x..", true, "xx."},
      {"x.x.", "x...", true, "x.x."},
      // ... and to any untried one when none is usable.
      {"xx.", "x.x", true, "x.x"},
      {"xxx", "x..", true, "x.."},
      {"xxx", "xx.", true, "xx."},
      {"xxx", "xxx", true, "xxx"},
      // A usable instance already tried does not keep the out ones away.
      {"x.x", ".x.", true, ".x."},
  };
  for (const auto& r : kRows) {
    CAPTURE(r.out);
    CAPTURE(r.tried);
    CAPTURE(r.panic);
    CHECK(excluded(r.out, r.tried, r.panic) == r.excluded);
  }
}

TEST_CASE("availability: two of three instances dead: in panic every request still reaches the live one") {
  int answered = 0;
  // The first request meets both dead instances before anything is known.
  // Then the group is in panic (2 of 3 out): a first attempt may go to a
  // dead instance (round robin resumes after c), and its retry goes
  // straight to c.
  CHECK(walk(flags("..."), flags("xx."), 6, answered) == "ab c ac ac ac ac ");
  CHECK(answered == 5);
}

TEST_CASE("availability: every instance out, then one back: in panic it is found at once") {
  REQUIRE(in_panic(3, 3, 50));
  int answered = 0;
  // c is back; a and b still refuse. Request 1 tries a and b (no usable
  // one known: any untried), request 2 reaches c, request 3 goes to a first
  // and retries on c, now usable.
  CHECK(walk(flags("xxx"), flags("xx."), 3, answered) == "ab c ac ");
  CHECK(answered == 2);
}
