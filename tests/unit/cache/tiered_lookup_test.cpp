// Tests for cache/tiered_lookup and cache/zone on a zone without a shared
// tier (the fleet's tier and lock run against a real Redis in
// tests/integration/fleet_test.cpp): the local lookup and its credentials
// rule, who leads and who follows after a local miss, the one background
// refresh, use_stale updating, the zone's fast hit path and its reload
// rule. Each case gets its own temporary directory.
#include "cache/tiered_lookup.hpp"

#include <doctest/doctest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <optional>
#include <string>

#include "cache/clock.hpp"
#include "temp_dir.hpp"

using namespace gateway::cache;
namespace asio = boost::asio;
namespace http = gateway::http;

namespace {

// A zone on a temporary directory, without a shared tier.
class TempZone {
 public:
  TempZone() {
    ZoneConfig c;
    c.name = "test";
    c.path = dir_.path();
    zone_.emplace(c);
    zone_->store.wait_loaded();
  }
  ~TempZone() { zone_.reset(); }  // before the directory goes
  Zone& operator*() { return *zone_; }
  Zone* operator->() { return &*zone_; }

 private:
  testing::TempDir dir_;
  std::optional<Zone> zone_;
};

http::Request get(std::initializer_list<std::pair<std::string, std::string>> fields = {}) {
  http::Request r;
  r.method = "GET";
  r.target = "/a";
  r.headers.add("Host", "example.com");
  for (const auto& [n, v] : fields) r.headers.add(n, v);
  return r;
}

// Stores a fresh 200 for `req` with `cache_control`; returns its key.
std::string store(Zone& zone, const RuleConfig& rule, const http::Request& req, const std::string& cache_control,
                  std::string_view body = "hello") {
  http::Response resp;
  resp.status = 200;
  resp.reason = "OK";
  resp.headers.add("Cache-Control", cache_control);
  const Seconds now = now_seconds();
  auto meta = response_meta(cache_key(req, rule), req, resp, rule, zone.config.tags_header, now, now);
  auto w = zone.store.begin(std::move(meta));
  REQUIRE(w);
  REQUIRE(w->write(body));
  REQUIRE(w->commit(body.size()));
  return cache_key(req, rule);
}

TieredLookup lookup(Zone& zone, const RuleConfig& rule, const http::Request& req, asio::io_context& io) {
  return TieredLookup(zone, rule, req, cache_key(req, rule), 0, io.get_executor());
}

// Runs after_local_miss to its end.
TieredLookup::AfterMiss after_miss(TieredLookup& t, asio::io_context& io) {
  std::optional<TieredLookup::AfterMiss> out;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        out = co_await t.after_local_miss(now_seconds(), [](std::shared_ptr<const Entry>, Seconds) -> asio::awaitable<bool> {
          co_return true;
        });
      },
      asio::detached);
  io.run();
  io.restart();
  REQUIRE(out);
  return std::move(*out);
}

}  // namespace

TEST_CASE("tiered lookup: local() finds the stored variant, credentials get it only if it may be shared so") {
  TempZone zone;
  RuleConfig rule;
  asio::io_context io;
  struct Row {
    const char* name;
    std::string cache_control;
    bool authorization;
    bool found;
    bool refused;
  };
  const Row rows[] = {
      {"anonymous", "max-age=60", false, true, false},
      {"credentials, private to the cache", "max-age=60", true, false, true},
      {"credentials, public", "public, max-age=60", true, true, false},
      {"credentials, s-maxage", "s-maxage=60", true, true, false},
  };
  for (const auto& r : rows) {
    CAPTURE(r.name);
    auto anonymous = get();
    store(*zone, rule, anonymous, r.cache_control);
    auto req = r.authorization ? get({{"Authorization", "Basic eDp5"}}) : get();
    auto t = lookup(*zone, rule, req, io);
    auto local = t.local(now_seconds());
    CHECK(static_cast<bool>(local.entry) == r.found);
    CHECK(local.refused == r.refused);
  }
  SUBCASE("nothing stored: neither found nor refused") {
    auto req = get();
    req.target = "/nothing";
    auto t = lookup(*zone, rule, req, io);
    auto local = t.local(now_seconds());
    CHECK((!local.entry && !local.refused));
  }
}

TEST_CASE("tiered lookup: after a local miss without a shared tier, the first request leads the fill, the next follow") {
  TempZone zone;
  RuleConfig rule;
  rule.lock_max_waiters = 1;
  asio::io_context io;
  auto req = get();
  auto first = lookup(*zone, rule, req, io);
  auto a = after_miss(first, io);
  CHECK(!a.served);
  CHECK(a.lead);
  CHECK(!a.follow);
  CHECK(!a.lock.held());
  auto second = lookup(*zone, rule, req, io);
  auto b = after_miss(second, io);
  CHECK((!b.served && b.follow && !b.lead));
  auto third = after_miss(second, io);
  CHECK((!third.served && !third.follow && !third.lead));  // lock_max_waiters reached: on its own
  a.lead = {};
  CHECK(b.follow->view().state == Fill::State::released);
}

TEST_CASE("tiered lookup: one background refresh per key, use_stale updating serves stale while a fill is in flight") {
  TempZone zone;
  RuleConfig rule;
  asio::io_context io;
  auto req = get();
  auto t = lookup(*zone, rule, req, io);
  CHECK(!t.updating());
  auto refresh = t.lead_refresh(now_seconds());
  CHECK(refresh);
  CHECK(!t.lead_refresh(now_seconds()));  // nobody follows a refresh
  CHECK(!t.updating());                   // not without use_stale: updating
  RuleConfig updating = rule;
  updating.use_stale.add(StaleIf::updating);
  auto u = lookup(*zone, updating, req, io);
  CHECK(u.updating());
  refresh = {};
  CHECK(!u.updating());
  auto joined = t.join(now_seconds());
  CHECK(joined.lead);
  CHECK(u.updating());
}

TEST_CASE("zone: the fast path serves only fresh entries held in RAM, to plain GETs without credentials") {
  TempZone zone;
  RuleConfig rule;
  const Seconds now = now_seconds();
  auto req = get();
  CHECK(!zone->fresh_memory_hit(req, rule, now));
  store(*zone, rule, req, "max-age=60");
  CHECK(zone->fresh_memory_hit(req, rule, now));
  CHECK(!zone->fresh_memory_hit(get({{"Authorization", "Basic eDp5"}}), rule, now));
  auto head = get();
  head.method = "HEAD";
  CHECK(!zone->fresh_memory_hit(head, rule, now));
  CHECK(!zone->fresh_memory_hit(req, rule, now + 60));  // stale at age == lifetime
  auto other = get();
  other.target = "/b";
  store(*zone, rule, other, "no-cache, max-age=60");
  CHECK(!zone->fresh_memory_hit(other, rule, now));  // must be revalidated
}
