// The replay loop (see replay.hpp). Runs on the thread replay_all gives it;
// shares nothing but the read-only requests.
#include "lab/replay.hpp"

#include <atomic>
#include <chrono>
#include <limits>
#include <thread>
#include <unordered_map>

#include "cache/store.hpp"

namespace gateway::lab {
namespace {

// A present entry: when it stops being fresh, and what it is charged.
struct Stored {
  std::uint64_t expires_us;
  std::uint32_t size;
};

std::uint64_t expiry(const Request& r) {
  if (r.ttl == kNoExpiry) return std::numeric_limits<std::uint64_t>::max();
  return r.time_us + static_cast<std::uint64_t>(r.ttl) * 1000000;
}

std::uint64_t scaled(std::uint64_t bytes, double rate) {
  return rate >= 1.0 ? bytes : static_cast<std::uint64_t>(static_cast<double>(bytes) * rate);
}

}  // namespace

ReplayResult replay(const std::vector<Request>& requests, const Zone& zone, double sample_rate, std::size_t routes) {
  const auto start = std::chrono::steady_clock::now();
  ReplayResult result{.zone = zone, .routes = std::vector<Counters>(routes)};
  // The store's thresholds at the full size, then scaled to the sample.
  const std::uint64_t capacity = scaled(zone.size, sample_rate);
  const std::uint64_t low_water = scaled(cache::eviction_low_water(zone.size), sample_rate);
  auto policy = cache::make_policy(zone.policy, capacity);
  auto admission = cache::make_admission(zone.admission, capacity);
  std::unordered_map<std::uint64_t, Stored> present;
  present.reserve(requests.size() / 4);

  for (const Request& r : requests) {
    admission->seen(r.key);
    Counters* route = r.route < routes ? &result.routes[r.route] : nullptr;
    const bool hit_ = [&] {
      auto it = present.find(r.key);
      if (it != present.end() && r.time_us < it->second.expires_us) {
        policy->touch(r.key);
        return true;
      }
      if (!r.storable) return false;
      const bool full = policy->bytes() + r.size > capacity;
      // Only TinyLFU weighs the victim; the hint walks S3-FIFO's and SIEVE's queues.
      const bool weighs = full && zone.admission.kind == cache::AdmissionKind::tinylfu;
      cache::AdmissionRoom room{.full = full, .victim = weighs ? policy->victim_hint() : std::nullopt};
      if (!admission->admit(r.key, room)) return false;
      if (it != present.end()) {  // a stale entry, replaced (as the store replaces it: a new entry)
        policy->erase(r.key);
        it->second = Stored{expiry(r), r.size};
      } else {
        present.emplace(r.key, Stored{expiry(r), r.size});
      }
      policy->insert(r.key, r.size);
      if (policy->bytes() > capacity) {
        while (policy->bytes() > low_water) {
          auto victim = policy->evict();
          if (!victim) break;
          present.erase(*victim);
          ++result.evictions;
        }
      }
      return false;
    }();
    for (Counters* c : {&result.total, route}) {
      if (!c) continue;
      ++c->requests;
      c->bytes += r.body;
      if (hit_) ++c->hits, c->hit_bytes += r.body;
    }
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

void run_parallel(std::size_t count, unsigned threads, const std::function<void(std::size_t)>& job) {
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  threads = static_cast<unsigned>(std::min<std::size_t>(threads, count));
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    for (std::size_t i; (i = next.fetch_add(1)) < count;) job(i);
  };
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
}

std::vector<ReplayResult> replay_all(const Trace& trace, const std::vector<Zone>& zones, unsigned threads) {
  std::vector<ReplayResult> results(zones.size());
  run_parallel(zones.size(), threads, [&](std::size_t i) {
    results[i] = replay(trace.requests, zones[i], trace.sample_rate, trace.routes.size());
  });
  return results;
}

}  // namespace gateway::lab
