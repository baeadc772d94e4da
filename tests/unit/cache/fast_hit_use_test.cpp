// The RAM tier's fast path (Zone::fresh_memory_hit) records a use of the
// entry only when it serves it. A request it declines goes on to the full
// lookup, which records the use: counting it on both would rank the entry
// higher than the policy (and gateway-lab's replay of the zone's trace)
// says; S3-FIFO's frequency counts were off by it.
#include <doctest/doctest.h>

#include <optional>
#include <string>

#include "cache/clock.hpp"
#include "cache/policy.hpp"
#include "cache/zone.hpp"
#include "temp_dir.hpp"

using namespace gateway::cache;
namespace http = gateway::http;

namespace {

http::Request get_a() {
  http::Request r;
  r.method = "GET";
  r.target = "/a";
  r.headers.add("Host", "example.com");
  return r;
}

std::shared_ptr<const Entry> store_fresh(Zone& zone, const RuleConfig& rule, const http::Request& req) {
  http::Response resp;
  resp.status = 200;
  resp.reason = "OK";
  resp.headers.add("Cache-Control", "max-age=600");
  const Seconds now = now_seconds();
  auto w = zone.store.begin(response_meta(cache_key(req, rule), req, resp, rule, zone.config.tags_header, now, now));
  REQUIRE(w);
  REQUIRE(w->write("hello"));
  return w->commit(5);
}

struct ZoneOnDisk {
  explicit ZoneOnDisk(std::uint64_t memory) {
    ZoneConfig c;
    c.name = "test";
    c.path = dir.path();
    c.memory = memory;
    zone.emplace(c);
    zone->store.wait_loaded();
  }
  ~ZoneOnDisk() { zone.reset(); }  // before the directory goes
  testing::TempDir dir;
  std::optional<Zone> zone;
};

}  // namespace

TEST_SUITE_BEGIN("cache");

TEST_CASE("fast hit path: an entry it declines (not in RAM) is not used by it, only by the full lookup") {
  ZoneOnDisk z(0);  // no RAM tier: every entry is on disk only
  RuleConfig rule;
  const auto req = get_a();
  auto e = store_fresh(*z.zone, rule, req);
  REQUIRE(e);
  const Seconds stored = e->last_used.load();
  CHECK_FALSE(z.zone->fresh_memory_hit(req, rule, stored + 5));
  CHECK(e->last_used.load() == stored);  // declined: no use recorded
  CHECK(z.zone->store.lookup(cache_key(req, rule), req, stored + 7));
  CHECK(e->last_used.load() == stored + 7);
}

TEST_CASE("fast hit path: an entry it serves from RAM is used once") {
  ZoneOnDisk z(1 << 20);
  RuleConfig rule;
  const auto req = get_a();
  auto e = store_fresh(*z.zone, rule, req);
  REQUIRE(e);
  REQUIRE(e->body);
  const Seconds stored = e->last_used.load();
  CHECK(z.zone->fresh_memory_hit(req, rule, stored + 5));
  CHECK(e->last_used.load() == stored + 5);
}

TEST_SUITE_END();
