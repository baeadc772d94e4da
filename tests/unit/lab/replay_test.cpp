// Tests for lab/replay: hand-worked request sequences through the zone
// model (hits, LRU and SIEVE victims, expiry by ttl, storability,
// min_uses and TinyLFU admission, the store's low-water mark, a sampled
// trace's scaled size, per-route counters).
#include "lab/replay.hpp"

#include <doctest/doctest.h>

#include "cache/store.hpp"
#include "lab/synth.hpp"

using namespace gateway;
using namespace gateway::lab;

namespace {

constexpr std::uint64_t kS = 1'000'000;  // µs per second

// Requests for one-block objects named by letters, one per second, never stale.
std::vector<Request> sequence(std::string_view keys, std::uint32_t ttl = kNoExpiry) {
  std::vector<Request> out;
  std::uint64_t t = 0;
  for (char k : keys)
    out.push_back(Request{.time_us = ++t * kS, .key = static_cast<std::uint64_t>(k), .size = 4096, .body = 1000,
                          .ttl = ttl, .route = kNoRoute, .storable = ttl > 0});
  return out;
}

Zone zone(std::string_view policy, std::uint64_t blocks, std::string_view admission = "none") {
  std::string error;
  return Zone{.policy = *cache::parse_policy_spec(policy, error), .admission = *cache::parse_admission_spec(admission, error),
              .size = blocks * 4096, .label = {}};
}

}  // namespace

TEST_CASE("replay: lru and sieve on a hand-worked sequence (three one-block entries)") {
  // a b c a d c e a d: LRU evicts b (d), a (e), d (a), c (d): hits a#4, c#6.
  // SIEVE evicts b (d: a's bit spared it), d (e: c's bit cleared, d unvisited),
  // c (d): a stays and hits again at #8.
  const auto requests = sequence("abcadcead");
  const ReplayResult lru = replay(requests, zone("lru", 3));
  CHECK(lru.total.requests == 9);
  CHECK(lru.total.hits == 2);
  CHECK(lru.evictions == 4);
  CHECK(lru.total.bytes == 9000);
  CHECK(lru.total.hit_bytes == 2000);
  const ReplayResult sieve = replay(requests, zone("sieve", 3));
  CHECK(sieve.total.hits == 3);
  CHECK(sieve.evictions == 3);
}

TEST_CASE("replay: s3fifo promotes a key hit in S, brings a ghost back into M, and keeps M through a scan") {
  // Ten blocks: S's share is one block. 1..10 fill S; 1 is hit; 11 makes
  // room: 1 (one hit, the paper's promotion) moves to M, 2 leaves (ghost);
  // 2 comes back into M (ghost hit), evicting 3; 1 and 2 hit; 3 comes back
  // into M, evicting 4. A scan of nine new keys then only passes through S,
  // so 1, 2 and 3 all hit at the end. LRU loses them to the scan.
  std::vector<Request> r;
  std::uint64_t t = 0;
  auto add = [&](std::initializer_list<std::uint64_t> keys) {
    for (std::uint64_t k : keys)
      r.push_back(Request{.time_us = ++t, .key = k, .size = 4096, .body = 4096, .ttl = kNoExpiry, .route = kNoRoute,
                          .storable = true});
  };
  add({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1, 11, 2, 1, 2, 3});
  add({12, 13, 14, 15, 16, 17, 18, 19, 20});
  add({1, 2, 3});
  const ReplayResult s3fifo = replay(r, zone("s3fifo", 10));
  CHECK(s3fifo.total.hits == 6);  // 1 (#11), 1 and 2, then 1, 2, 3
  CHECK(s3fifo.evictions == 3 + 9);  // 2, 3, 4, then the scan passes through S
  const ReplayResult lru = replay(r, zone("lru", 10));
  CHECK(lru.total.hits == 3);  // 1 (#11), 1 and 2
}

TEST_CASE("replay: an entry is a hit while time < stored + ttl, then a miss that stores it again") {
  std::vector<Request> r = sequence("aaaa", 10);
  r[0].time_us = 0;
  r[1].time_us = 9'999'999;   // fresh
  r[2].time_us = 10 * kS;     // stale: a miss, stored anew until 20 s
  r[3].time_us = 19 * kS;     // fresh again
  const ReplayResult result = replay(r, zone("lru", 8));
  CHECK(result.total.hits == 2);
  CHECK(result.evictions == 0);
  // Request by request: hit, miss at exactly stored + ttl, hit.
  CHECK(replay({r.begin(), r.begin() + 2}, zone("lru", 8)).total.hits == 1);
  CHECK(replay({r.begin(), r.begin() + 3}, zone("lru", 8)).total.hits == 1);
}

TEST_CASE("replay: freshness runs on the zone's whole-second clock") {
  std::vector<Request> r = sequence("aaa", 10);
  r[0].time_us = 900'000;      // stored at 0.9 s: its age counts from second 0
  r[1].time_us = 9'999'999;    // fresh
  r[2].time_us = 10 * kS;      // stale, though only 9.1 s after it was stored
  CHECK(replay({r.begin(), r.begin() + 2}, zone("lru", 8)).total.hits == 1);
  CHECK(replay(r, zone("lru", 8)).total.hits == 1);
}

TEST_CASE("replay: a response that is not storable never hits and never takes room") {
  std::vector<Request> r = sequence("abab");
  r[0].storable = r[2].storable = false;  // a: e.g. ttl 0 or no-store
  r[0].ttl = r[2].ttl = 0;
  const ReplayResult result = replay(r, zone("lru", 1));
  CHECK(result.total.hits == 1);  // b's second request: a never displaced it
  CHECK(result.evictions == 0);
}

TEST_CASE("replay: min_uses:2 stores a key on its second request, as nginx's proxy_cache_min_uses") {
  const auto r = sequence("aaab");
  CHECK(replay(r, zone("lru", 8, "min_uses:2")).total.hits == 1);  // a#3
  CHECK(replay(r, zone("lru", 8, "none")).total.hits == 2);        // a#2, a#3
  CHECK(replay(r, zone("lru", 8, "min_uses:1")).total.hits == 2);
}

TEST_CASE("replay: tinylfu admits while there is room, then only keys more frequent than the victim") {
  // Two blocks. a is requested three times, b fills the zone; c (seen once)
  // would displace a (LRU's victim, seen three times): TinyLFU refuses it,
  // so a hits again at #6. Without admission c displaces a.
  const auto r = sequence("aaabca");
  CHECK(replay(r, zone("lru", 2, "tinylfu")).total.hits == 3);
  CHECK(replay(r, zone("lru", 2, "none")).total.hits == 2);
}

TEST_CASE("replay: over its size a zone evicts down to the store's low-water mark") {
  // 1 MiB = 256 blocks; the low-water mark is 1 MiB - 16 KiB (a 64th).
  REQUIRE(cache::eviction_low_water(1 << 20) == (1 << 20) - 16384);
  std::vector<Request> r;
  for (std::uint64_t k = 1; k <= 257; ++k)
    r.push_back(Request{.time_us = k, .key = k, .size = 4096, .body = 4096, .ttl = kNoExpiry, .route = kNoRoute,
                        .storable = true});
  const ReplayResult result = replay(r, zone("lru", 256));
  CHECK(result.evictions == 5);  // 257 blocks down to 252
  // Under 256 KiB there is no headroom: exactly one eviction per extra block.
  r.resize(33);
  CHECK(replay(r, zone("lru", 32)).evictions == 1);
}

TEST_CASE("replay: a trace sampled at rate R is simulated in a zone R times the size") {
  const auto r = sequence("abcabc");
  CHECK(replay(r, zone("lru", 6), 0.5).total.hits == 3);   // 3 blocks: all fit
  CHECK(replay(r, zone("lru", 4), 0.5).total.hits == 0);   // 2 blocks: LRU thrashes
}

TEST_CASE("replay: hits are counted per route as well as in total") {
  auto r = sequence("abab");
  r[0].route = r[2].route = 0;
  r[1].route = r[3].route = 1;
  r[3].storable = false;  // still a hit: the stored entry is fresh
  const ReplayResult result = replay(r, zone("lru", 8), 1.0, 2);
  REQUIRE(result.routes.size() == 2);
  CHECK(result.routes[0].requests == 2);
  CHECK(result.routes[0].hits == 1);
  CHECK(result.routes[1].hits == 1);
  CHECK(result.total.hits == 2);
}

TEST_CASE("replay: s3fifo and sieve keep a Zipf hot set through scans better than lru") {
  SynthOptions o{.kind = SynthKind::scan, .alpha = 1.0, .requests = 60000, .objects = 2000,
                 .sizes = *parse_size_spec("fixed:4k"), .seed = 3, .share = 0.3};
  const Trace trace = synthesize(o).trace;
  const auto results = replay_all(trace, {zone("lru", 200), zone("s3fifo", 200), zone("sieve", 200)}, 2);
  CHECK(results[1].total.hit_ratio() > results[0].total.hit_ratio() + 0.03);
  CHECK(results[2].total.hit_ratio() > results[0].total.hit_ratio() + 0.03);
  CHECK(results[0].zone.policy.kind == cache::PolicyKind::lru);  // results keep the zones' order
}
