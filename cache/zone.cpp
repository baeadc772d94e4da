// A cache zone (see zone.hpp). Built on the main thread; fresh_memory_hit
// runs on any worker.
#include "cache/zone.hpp"

#include <algorithm>
#include <chrono>

#include "base/hash.hpp"

namespace gateway::cache {

StoreOptions store_options(const ZoneConfig& c) {
  StoreOptions o;
  o.path = c.path;
  o.max_size = c.max_size;
  o.memory = c.memory;
  o.memory_entry_max = c.memory_entry_max;
  o.policy = c.policy;
  o.admission = c.admission;
  o.inactive = std::max<Seconds>(1, std::chrono::duration_cast<std::chrono::seconds>(c.inactive).count());
  return o;
}

Zone::Zone(const ZoneConfig& c) : config(c), store(store_options(c)) {
  store.start();
  if (c.redis) tier = std::make_unique<SharedTier>(*c.redis, c.name, store);
  set_trace(c.trace);
}

void Zone::set_trace(const std::optional<TraceConfig>& next) {
  auto* running = trace();
  if (running && next && running->config() == *next) return;
  if (!running && !next) return;
  // Started on the main thread; a worker may still add to the old writer,
  // which, closed, ignores it.
  if (next) traces_.push_back(std::make_unique<TraceWriter>(*next));
  trace_.store(next ? traces_.back().get() : nullptr, std::memory_order_release);
  if (running) running->close();
}

void Zone::reopen_trace() {
  if (auto* t = trace()) t->reopen();
}

void Zone::observe(const Observation& o) {
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  report.add(HitEvent{.now = std::chrono::duration_cast<std::chrono::seconds>(now).count(), .route = o.route,
                      .key = o.key, .status = o.status, .body = o.body, .fetched = o.fetched});
  if (auto* t = trace()) {
    t->add(TraceEvent{.time_us = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(now).count()),
                      .key = hash64(o.key), .size = trace_u32(o.size), .body = trace_u32(o.body), .ttl = o.ttl,
                      .route = o.route, .status = static_cast<std::uint8_t>(o.status), .flags = o.flags});
  }
}

bool Zone::reconfigure(const ZoneConfig& next) {
  set_trace(next.trace);
  auto now = store.options();
  auto want = store_options(next);
  if (now.max_size == want.max_size && now.memory == want.memory && now.memory_entry_max == want.memory_entry_max &&
      now.policy == want.policy && now.admission == want.admission && now.inactive == want.inactive)
    return false;
  store.resize(want);
  return true;
}

std::shared_ptr<const Entry> Zone::fresh_memory_hit(const http::Request& req, const RuleConfig& rule, Seconds now) {
  if (!fast_hit_request(req, rule)) return nullptr;
  // Counted as a use and as a request for admission only when served
  // here: otherwise the request goes on to the full lookup, which counts
  // it (see Store::find).
  thread_local std::string key;  // one buffer per worker: no allocation per hit
  key.clear();
  append_cache_key(key, req, rule);
  auto e = store.find(key, req);
  if (!e || !e->body) return nullptr;
  if (usability(e->meta.freshness, e->meta.age(now), RequestDirectives{}, false) != Usability::fresh) return nullptr;
  store.use(*e, now);
  store.count_request(key);
  return e;
}

}  // namespace gateway::cache
