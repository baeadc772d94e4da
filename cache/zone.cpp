// A cache zone (see zone.hpp). Built on the main thread; fresh_memory_hit
// runs on any worker.
#include "cache/zone.hpp"

#include <algorithm>
#include <chrono>

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
}

bool Zone::reconfigure(const ZoneConfig& next) {
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
  // Counted as a request for admission only when served here: otherwise
  // the request goes on to the full lookup, which counts it.
  const std::string key = cache_key(req, rule);
  auto e = store.lookup(key, req, now, false);
  if (!e || !e->body) return nullptr;
  if (usability(e->meta.freshness, e->meta.age(now), RequestDirectives{}, false) != Usability::fresh) return nullptr;
  store.count_request(key);
  return e;
}

}  // namespace gateway::cache
