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

// When an entry stored by `r` goes stale, on the zone's clock: whole
// seconds, as RFC 9111 ages are (cache/clock.hpp). An entry stored at
// 100.9 s with a ttl of 10 is stale from 110.0 s, not 110.9 s.
std::uint64_t expiry(const Request& r) {
  if (r.ttl == kNoExpiry) return std::numeric_limits<std::uint64_t>::max();
  return (r.time_us / 1000000 + static_cast<std::uint64_t>(r.ttl)) * 1000000;
}

std::uint64_t scaled(std::uint64_t bytes, double rate) {
  return rate >= 1.0 ? bytes : static_cast<std::uint64_t>(static_cast<double>(bytes) * rate);
}

// One simulated zone: its eviction policy and admission rule (cache/'s
// own), and what it holds. Thresholds are the store's at the zone's full
// size, scaled to the sample.
class ZoneModel {
 public:
  ZoneModel(const Zone& zone, double sample_rate, std::size_t expected_keys)
      : zone_(zone),
        rate_(sample_rate),
        capacity_(scaled(zone.size, sample_rate)),
        low_water_(scaled(cache::eviction_low_water(zone.size), sample_rate)),
        policy_(cache::make_policy(zone.policy, capacity_)),
        admission_(cache::make_admission(zone.admission, capacity_)) {
    present_.reserve(expected_keys);
  }

  // One request: true for a hit (present and fresh). A miss stores the
  // response if it is storable and admitted, replacing a stale entry.
  bool request(const Request& r) {
    admission_->seen(r.key);
    auto it = present_.find(r.key);
    if (it != present_.end() && r.time_us < it->second.expires_us) {
      policy_->touch(r.key);
      return true;
    }
    if (r.storable && admission_->admit(r.key, room())) store(r, it);
    return false;
  }

  std::uint64_t evictions() const { return evictions_; }

 private:
  using Present = std::unordered_map<std::uint64_t, Stored>;

  // What TinyLFU weighs a candidate against (the store asks the same).
  cache::AdmissionRoom room() const {
    cache::AdmissionRoom room;
    if (zone_.admission.kind != cache::AdmissionKind::tinylfu) return room;
    // The store's rule at the full size: the sampled bytes scaled up.
    room.full = cache::admission_full(static_cast<std::uint64_t>(static_cast<double>(policy_->bytes()) / rate_), zone_.size);
    if (room.full) room.victim = policy_->victim_hint();  // policy ids are key hashes here
    return room;
  }

  void store(const Request& r, Present::iterator it) {
    if (it != present_.end()) {  // a stale entry, replaced by a new one (as the store does)
      policy_->erase(r.key);
      it->second = Stored{expiry(r), r.size};
    } else {
      present_.emplace(r.key, Stored{expiry(r), r.size});
    }
    policy_->insert(r.key, r.size);
    if (policy_->bytes() <= capacity_) return;
    while (policy_->bytes() > low_water_) {  // past the size: down to the low-water mark
      auto victim = policy_->evict();
      if (!victim) break;
      present_.erase(*victim);
      ++evictions_;
    }
  }

  const Zone& zone_;
  double rate_;
  std::uint64_t capacity_;
  std::uint64_t low_water_;
  std::unique_ptr<cache::EvictionPolicy> policy_;
  std::unique_ptr<cache::Admission> admission_;
  Present present_;
  std::uint64_t evictions_ = 0;
};

}  // namespace

ReplayResult replay(const std::vector<Request>& requests, const Zone& zone, double sample_rate, std::size_t routes) {
  const auto start = std::chrono::steady_clock::now();
  ReplayResult result{.zone = zone, .total = {}, .routes = std::vector<Counters>(routes)};
  ZoneModel model(zone, sample_rate, requests.size() / 4);
  for (const Request& r : requests) {
    const bool hit = model.request(r);
    Counters* route = r.route < routes ? &result.routes[r.route] : nullptr;
    for (Counters* c : {&result.total, route}) {
      if (!c) continue;
      ++c->requests;
      c->bytes += r.body;
      if (hit) ++c->hits, c->hit_bytes += r.body;
    }
  }
  result.evictions = model.evictions();
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
