// Tests for gateway/rate_limit: the rate's syntax, nginx's limit_req
// decision (pass, delay, reject with Retry-After) as a table over the
// bucket, the clock and the rule, the request's key, the shared table's
// bound (least recently used key forgotten) and the connections counted
// per client address.
#include "gateway/rate_limit.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using namespace gateway;
using limit::Bucket;
using limit::Decision;
using V = limit::Decision::Verdict;

TEST_CASE("limit: rates as nginx writes them, in thousandths of a request per second") {
  struct Case {
    const char* text;
    std::optional<std::int64_t> want;
  };
  const Case cases[] = {
      {"10r/s", 10'000},   {"1r/s", 1'000},   {"30r/m", 500},         {"1r/m", 16},  // as nginx: 1000/60
      {"1000000r/s", 1'000'000'000},
      {"0r/s", std::nullopt}, {"-1r/s", std::nullopt}, {"10", std::nullopt},      {"10r/h", std::nullopt},
      {"r/s", std::nullopt},  {"10 r/s", std::nullopt}, {"10r/s ", std::nullopt}, {"1000001r/s", std::nullopt},
      {"", std::nullopt},     {"1.5r/s", std::nullopt}, {"10R/S", std::nullopt},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.text));
    CHECK(limit::parse_rate(c.text) == c.want);
  }
}

TEST_CASE("limit: the decision, step by step, as nginx's limit_req") {
  // rate 2r/s (2000), burst 1: one request every 500 ms, one more in excess.
  struct Step {
    const char* name;
    std::int64_t now_ms;
    bool nodelay;
    Decision want;
    std::int64_t excess_after;
  };
  const Step steps[] = {
      {"the key's first request passes, no excess", 1000, false, {}, 0},
      {"at once: one in excess, delayed until drained", 1000, false, {V::delay, std::chrono::milliseconds(500), 0}, 1000},
      {"at once again: over the burst, refused", 1000, false, {V::reject, std::chrono::milliseconds(0), 1}, 1000},
      {"250 ms later: still over, refused", 1250, false, {V::reject, std::chrono::milliseconds(0), 1}, 1000},
      {"500 ms later: excess 1000 again, delayed", 1500, false, {V::delay, std::chrono::milliseconds(500), 0}, 1000},
      {"with nodelay the same excess passes at once", 2000, true, {}, 1000},
      {"a long idle time drains it all", 900'000'000, false, {}, 0},
  };
  Bucket bucket;
  for (const auto& s : steps) {
    CAPTURE(std::string(s.name));
    CHECK(limit::decide(bucket, s.now_ms, 2000, 1, s.nodelay ? 1 : 0) == s.want);
    CHECK(bucket.excess == s.excess_after);
  }
}

TEST_CASE("limit: burst 0 and slow rates, Retry-After in whole seconds, at least 1") {
  struct Case {
    const char* name;
    Bucket bucket;
    std::int64_t now_ms, rate, burst;
    bool nodelay;
    Decision want;
  };
  const Case cases[] = {
      {"1r/s, burst 0: one a second", {true, 0, 0}, 1000, 1000, 0, false, {}},
      {"1r/s, burst 0: 999 ms is too early", {true, 0, 0}, 999, 1000, 0, false, {V::reject, {}, 1}},
      {"1r/m: the next one in about a minute", {true, 0, 0}, 1000, 16, 0, false, {V::reject, {}, 62}},
      {"10r/s, burst 5, full: 100 ms to go", {true, 5000, 0}, 0, 10'000, 5, false, {V::reject, {}, 1}},
      {"10r/s, burst 5 nodelay, room for one", {true, 4000, 0}, 0, 10'000, 5, true, {}},
      {"10r/s, burst 5, delayed by the excess", {true, 4000, 0}, 0, 10'000, 5, false,
       {V::delay, std::chrono::milliseconds(500), 0}},
      {"1r/s, burst 100 full: 100 s of excess, 1 s to the next", {true, 100'000, 0}, 0, 1000, 100, true,
       {V::reject, {}, 1}},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.name));
    Bucket b = c.bucket;
    CHECK(limit::decide(b, c.now_ms, c.rate, c.burst, c.nodelay ? c.burst : 0) == c.want);
  }
}

TEST_CASE("limit: delay=N passes the first N of the burst at once and paces the rest (nginx's two-stage limiting)") {
  // 10r/s (10'000), burst 5, delay 2, all at t=0 after the key's first request.
  struct Step {
    const char* name;
    Decision want;
    std::int64_t excess_after;
  };
  const Step steps[] = {
      {"the key's first request", {}, 0},
      {"excess 1: within delay, at once", {}, 1000},
      {"excess 2: within delay, at once", {}, 2000},
      {"excess 3: 1 over delay, 100 ms", {V::delay, std::chrono::milliseconds(100), 0}, 3000},
      {"excess 4: 200 ms", {V::delay, std::chrono::milliseconds(200), 0}, 4000},
      {"excess 5: the burst's last, 300 ms", {V::delay, std::chrono::milliseconds(300), 0}, 5000},
      {"excess 6: over the burst, refused", {V::reject, {}, 1}, 5000},
  };
  Bucket b;
  for (const auto& s : steps) {
    CAPTURE(std::string(s.name));
    CHECK(limit::decide(b, 0, 10'000, 5, 2) == s.want);
    CHECK(b.excess == s.excess_after);
  }
}

TEST_CASE("limit: the clock going back counts as no time, more than a minute back as 1 ms") {
  struct Case {
    const char* name;
    std::int64_t now_ms;
    std::int64_t excess_after;
    std::int64_t last_after;
  };
  // 1r/s (1000), burst 10, excess 3000 at t=100'000.
  const Case cases[] = {
      {"same time", 100'000, 4000, 100'000},
      {"a second back: nothing drained, last kept", 99'000, 4000, 100'000},
      {"two minutes back: as 1 ms", -20'000, 3999, -20'000},
      {"a second on: one drained", 101'000, 3000, 101'000},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.name));
    Bucket b{true, 3000, 100'000};
    auto d = limit::decide(b, c.now_ms, 1000, 10, 10);
    CHECK(d.verdict == V::pass);
    CHECK(b.excess == c.excess_after);
    CHECK(b.last_ms == c.last_after);
  }
}

TEST_CASE("limit: a refused request leaves the bucket as it was") {
  Bucket b{true, 2000, 0};
  CHECK(limit::decide(b, 0, 1000, 1, 1).verdict == V::reject);
  CHECK(b.excess == 2000);
  CHECK(b.last_ms == 0);
}

TEST_CASE("limit: the request's key: client, header, cookie, none when absent or empty") {
  http::HeaderMap headers;
  headers.add("X-Api-Key", "k1");
  headers.add("X-Empty", "");
  headers.add("Cookie", "a=1; session=s9; b=2");
  struct Case {
    const char* name;
    limit::KeyKind kind;
    const char* key_name;
    std::optional<std::string> want;
  };
  const Case cases[] = {
      {"client", limit::KeyKind::client_ip, "", "10.0.0.7"},
      {"header", limit::KeyKind::header, "x-api-key", "k1"},
      {"header absent", limit::KeyKind::header, "X-Other", std::nullopt},
      {"header empty", limit::KeyKind::header, "X-Empty", std::nullopt},
      {"cookie", limit::KeyKind::cookie, "session", "s9"},
      {"cookie absent", limit::KeyKind::cookie, "Session", std::nullopt},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.name));
    limit::RateLimitConfig rule;
    rule.key = c.kind;
    rule.key_name = c.key_name;
    auto got = limit::request_key(rule, "10.0.0.7", headers);
    CHECK((got ? std::optional<std::string>(*got) : std::nullopt) == c.want);
  }
}

TEST_CASE("limit: keys have buckets of their own, and the least recently used goes when full") {
  limit::RateLimitConfig rule;
  rule.rate = 1000;
  rule.burst = 0;
  rule.max_keys = 2;
  limit::RateLimiter limiter(rule);
  CHECK(limiter.take("a", 0).verdict == V::pass);
  CHECK(limiter.take("b", 0).verdict == V::pass);
  CHECK(limiter.take("a", 10).verdict == V::reject);  // a is over; and now the most recent
  CHECK(limiter.take("c", 20).verdict == V::pass);    // b goes
  CHECK(limiter.keys() == 2);
  CHECK(limiter.take("a", 30).verdict == V::reject);  // a was kept
  CHECK(limiter.take("b", 40).verdict == V::pass);    // b was forgotten: a first request again
}

TEST_CASE("limit: one table shared by threads counts every request once") {
  limit::RateLimitConfig rule;
  rule.rate = 1000;
  rule.burst = 99;
  rule.nodelay = true;
  limit::RateLimiter limiter(rule);
  std::atomic<int> passed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i)
        if (limiter.take("k", 0).verdict == V::pass) ++passed;
    });
  for (auto& t : threads) t.join();
  CHECK(passed.load() == 100);  // the first, and a burst of 99
}

TEST_CASE("limit: connections per client address, each place given back") {
  limit::ClientConnections table;
  const std::string_view c1("\x0a\x00\x00\x01", 4), c2("\x0a\x00\x00\x02", 4);  // addresses' bytes
  std::vector<limit::ClientConnections::Slot> held;
  for (int i = 0; i < 3; ++i) {
    auto s = table.acquire(c1, 3);
    REQUIRE(s);
    held.push_back(std::move(*s));
  }
  CHECK_FALSE(table.acquire(c1, 3));
  CHECK(table.acquire(c2, 3));  // another client (and given back at once)
  CHECK(table.open(c2) == 0);
  CHECK(table.open(c1) == 3);
  limit::ClientConnections::Slot moved = std::move(held.back());
  held.pop_back();
  CHECK(table.open(c1) == 3);  // moved, not given back
  moved = {};
  CHECK(table.open(c1) == 2);
  CHECK(table.acquire(c1, 3));
  held.clear();
  CHECK(table.open(c1) == 0);
  CHECK_FALSE(table.acquire("x", 0));  // 0: none allowed (the gateway does not call it then)
}
