#include "gateway/admin.hpp"

#include "cache/policy.hpp"
#include "cache/shared_tier.hpp"
#include "gateway/runtime.hpp"

#include <boost/asio/this_coro.hpp>
#include "base/http/url.hpp"
#include "base/json.hpp"

#include <array>
#include <cstdio>
#include <map>
#include "gateway/worker.hpp"

#ifndef GATEWAY_VERSION
#define GATEWAY_VERSION "dev"
#endif

namespace gateway {

Admin::Admin() : started_(std::chrono::steady_clock::now()) {}

std::string Admin::metrics_text(const Worker& worker) const {
  std::vector<const WorkerMetrics*> m;
  for (const auto* w : workers_) m.push_back(&w->metrics());
  std::string out = render_prometheus(m);

  // Cache zones: what the cache did (summed over workers) and what the store holds.
  const auto& rt = *worker.state()->runtime;
  struct Zone {
    std::array<std::uint64_t, kCacheStatuses> by_status{};
    std::uint64_t coalesced = 0, background = 0;
  };
  std::map<std::string, Zone> zones;
  for (const auto* w : workers_)
    w->metrics().for_each_zone([&](const std::string& name, const ZoneStats& z) {
      auto& t = zones[name];
      for (std::size_t i = 0; i < kCacheStatuses; ++i) t.by_status[i] += z.cache[i].get();
      t.coalesced += z.coalesced.get();
      t.background += z.background_updates.get();
    });
  auto label = [](const std::string& zone) { return "zone=" + json::quote(zone); };
  out += "# HELP gateway_cache_responses_total Responses by zone and what the cache did (X-Cache).\n"
         "# TYPE gateway_cache_responses_total counter\n";
  for (const auto& [name, z] : zones)
    for (std::size_t i = 0; i < kCacheStatuses; ++i)
      out += "gateway_cache_responses_total{" + label(name) + ",status=\"" + kCacheStatusNames[i] + "\"} " +
             std::to_string(z.by_status[i]) + "\n";
  out += "# HELP gateway_cache_hit_ratio Share of responses served from the cache (HIT, STALE, UPDATING, REVALIDATED).\n"
         "# TYPE gateway_cache_hit_ratio gauge\n";
  for (const auto& [name, z] : zones) {
    auto served = z.by_status[0] + z.by_status[2] + z.by_status[3] + z.by_status[6];
    auto total = served + z.by_status[1] + z.by_status[5];
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4f", total ? static_cast<double>(served) / static_cast<double>(total) : 0.0);
    out += "gateway_cache_hit_ratio{" + label(name) + "} " + buf + "\n";
  }
  auto counter = [&](const char* metric, const char* help, auto get) {
    out += std::string("# HELP ") + metric + " " + help + "\n# TYPE " + metric + " counter\n";
    for (std::size_t i = 0; i < rt.zones.size(); ++i)
      out += std::string(metric) + "{" + label(rt.config->caches[i].name) + "} " + std::to_string(get(i)) + "\n";
  };
  counter("gateway_cache_coalesced_total", "Requests that followed another request's fill instead of going upstream.",
          [&](std::size_t i) { return zones[rt.config->caches[i].name].coalesced; });
  counter("gateway_cache_background_updates_total", "Stale-while-revalidate refreshes started.",
          [&](std::size_t i) { return zones[rt.config->caches[i].name].background; });
  counter("gateway_cache_stores_total", "Entries written.", [&](std::size_t i) { return rt.zones[i]->store.stats().stores.load(); });
  counter("gateway_cache_evictions_total", "Entries evicted to stay under max_size.",
          [&](std::size_t i) { return rt.zones[i]->store.stats().evictions.load(); });
  counter("gateway_cache_inactive_removed_total", "Entries removed after `inactive` without use.",
          [&](std::size_t i) { return rt.zones[i]->store.stats().inactive_removed.load(); });
  counter("gateway_cache_purged_total", "Entries removed by purges and invalidations.",
          [&](std::size_t i) { return rt.zones[i]->store.stats().purged.load(); });
  counter("gateway_cache_write_errors_total", "Entries not stored because of a disk error.",
          [&](std::size_t i) { return rt.zones[i]->store.stats().write_errors.load(); });
  auto gauge = [&](const char* metric, const char* help, auto get) {
    out += std::string("# HELP ") + metric + " " + help + "\n# TYPE " + metric + " gauge\n";
    for (std::size_t i = 0; i < rt.zones.size(); ++i)
      out += std::string(metric) + "{" + label(rt.config->caches[i].name) + "} " + std::to_string(get(i)) + "\n";
  };
  // The shared Redis tier of zones that have one.
  auto tier_counter = [&](const char* metric, const char* help, auto get) {
    bool any = false;
    for (const auto& z : rt.zones) any = any || z->tier;
    if (!any) return;
    out += std::string("# HELP ") + metric + " " + help + "\n# TYPE " + metric + " counter\n";
    for (std::size_t i = 0; i < rt.zones.size(); ++i)
      if (rt.zones[i]->tier)
        out += std::string(metric) + "{" + label(rt.config->caches[i].name) + "} " +
               std::to_string(get(rt.zones[i]->tier->stats())) + "\n";
  };
  tier_counter("gateway_redis_hits_total", "Local misses found in the shared tier.",
               [](const cache::SharedTierStats& t) { return t.hits.load(); });
  tier_counter("gateway_redis_misses_total", "Local misses not in the shared tier either.",
               [](const cache::SharedTierStats& t) { return t.misses.load(); });
  tier_counter("gateway_redis_errors_total", "Shared-tier lookups and locks that failed (Redis down, slow, or wrong).",
               [](const cache::SharedTierStats& t) { return t.errors.load(); });
  tier_counter("gateway_redis_fills_total", "Entries written to the shared tier.",
               [](const cache::SharedTierStats& t) { return t.fills.load(); });
  tier_counter("gateway_redis_lock_waits_total", "Misses that waited for another gateway's fill.",
               [](const cache::SharedTierStats& t) { return t.lock_waits.load(); });
  tier_counter("gateway_redis_purges_sent_total", "Purges sent to the fleet.",
               [](const cache::SharedTierStats& t) { return t.purges_sent.load(); });
  tier_counter("gateway_redis_purges_received_total", "Purges received from other gateways.",
               [](const cache::SharedTierStats& t) { return t.purges_received.load(); });
  out += "# HELP gateway_redis_up Whether the zone's shared tier is reachable.\n# TYPE gateway_redis_up gauge\n";
  for (std::size_t i = 0; i < rt.zones.size(); ++i)
    if (rt.zones[i]->tier)
      out += "gateway_redis_up{" + label(rt.config->caches[i].name) + "} " + (rt.zones[i]->tier->up() ? "1" : "0") + "\n";

  gauge("gateway_cache_entries", "Entries stored.", [&](std::size_t i) { return rt.zones[i]->store.stats().entries.load(); });
  gauge("gateway_cache_bytes", "Bytes on disk counted against max_size.",
        [&](std::size_t i) { return rt.zones[i]->store.stats().bytes.load(); });
  gauge("gateway_cache_memory_bytes", "Bodies held in the RAM tier.",
        [&](std::size_t i) { return rt.zones[i]->store.stats().memory_bytes.load(); });

  // Per route: what the cache did.
  std::map<std::string, std::array<std::uint64_t, kCacheStatuses>> routes;
  for (const auto* w : workers_)
    w->metrics().for_each_route([&](const std::string& name, const RouteStats& r) {
      auto& a = routes[name];
      for (std::size_t i = 0; i < kCacheStatuses; ++i) a[i] += r.cache[i].get();
    });
  out += "# HELP gateway_route_cache_total Responses of cached routes by what the cache did.\n"
         "# TYPE gateway_route_cache_total counter\n";
  for (const auto& [name, a] : routes) {
    std::uint64_t any = 0;
    for (auto v : a) any += v;
    if (!any) continue;
    for (std::size_t i = 0; i < kCacheStatuses; ++i)
      out += "gateway_route_cache_total{route=" + json::quote(name) + ",status=\"" + kCacheStatusNames[i] + "\"} " +
             std::to_string(a[i]) + "\n";
  }
  return out;
}

std::string Admin::status_json(const Worker& worker) const {
  const auto& rt = *worker.state()->runtime;
  auto now = Clock::now();
  std::uint64_t active = 0;
  for (const auto* w : workers_) active += w->metrics().connections_active.get();
  auto uptime = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_).count();

  std::string out = "{\"version\":";
  json::append_string(out, GATEWAY_VERSION);
  out += ",\"config\":";
  json::append_string(out, rt.config->file);
  out += ",\"uptime_seconds\":" + std::to_string(uptime);
  out += ",\"workers\":" + std::to_string(workers_.size());
  out += ",\"connections_active\":" + std::to_string(active);
  out += ",\"upstreams\":{";
  for (std::size_t g = 0; g < rt.groups.size(); ++g) {
    const auto& group = *rt.groups[g];
    if (g) out += ",";
    json::append_string(out, group.name());
    static constexpr const char* kBalance[] = {"round_robin", "weighted", "least_conn", "hash"};
    out += ":{\"balance\":\"" + std::string(kBalance[static_cast<int>(group.config().balance)]) + "\",\"instances\":[";
    for (std::size_t i = 0; i < group.size(); ++i) {
      const auto& inst = group.instance(i);
      if (i) out += ",";
      bool probe_up = inst.probe_up.load();
      bool ejected = !group.usable(i, now) && probe_up;
      const char* state = !probe_up ? "down" : ejected ? "ejected" : "up";
      out += "{\"address\":";
      json::append_string(out, inst.address.text);
      out += ",\"weight\":" + std::to_string(inst.weight);
      out += ",\"state\":\"" + std::string(state) + "\"";
      out += ",\"health_check\":\"" + std::string(!group.config().health ? "off" : probe_up ? "up" : "down") + "\"";
      out += ",\"fails\":" + std::to_string(inst.fails.load());
      out += ",\"failures_total\":" + std::to_string(inst.failures_total.load());
      out += ",\"ejections_total\":" + std::to_string(inst.ejections_total.load());
      out += "}";
    }
    out += "]}";
  }
  out += "},\"caches\":{";
  for (std::size_t i = 0; i < rt.zones.size(); ++i) {
    const auto& z = *rt.zones[i];
    const auto& st = z.store.stats();
    if (i) out += ",";
    json::append_string(out, z.config.name);
    out += ":{\"path\":" + json::quote(z.config.path) + ",\"policy\":" + json::quote(cache::to_string(z.config.policy)) +
           ",\"max_size\":" + std::to_string(z.config.max_size) + ",\"bytes\":" + std::to_string(st.bytes.load()) +
           ",\"entries\":" + std::to_string(st.entries.load()) +
           ",\"memory_bytes\":" + std::to_string(st.memory_bytes.load()) +
           ",\"stores\":" + std::to_string(st.stores.load()) + ",\"evictions\":" + std::to_string(st.evictions.load()) +
           ",\"loading\":" + (st.loading.load() ? "true" : "false") + ",\"loaded\":" + std::to_string(st.loaded.load()) +
           ",\"load_dropped\":" + std::to_string(st.load_dropped.load());
    if (z.tier) out += std::string(",\"redis\":{\"up\":") + (z.tier->up() ? "true" : "false") + ",\"hits\":" +
                       std::to_string(z.tier->stats().hits.load()) + "}";
    out += "}";
  }
  out += "}}\n";
  return out;
}

namespace {
// "http://Host:80/p?q" -> ("host", "/p?q"); "/p?q" -> ("", "/p?q").
std::pair<std::string, std::string> split_url(std::string_view url) {
  std::string host;
  if (auto scheme = url.find("://"); scheme != std::string_view::npos) {
    url.remove_prefix(scheme + 3);
    auto slash = url.find_first_of("/?");
    host = std::string(url.substr(0, slash));
    url = slash == std::string_view::npos ? std::string_view("/") : url.substr(slash);
    for (auto& c : host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (host.size() > 3 && host.ends_with(":80")) host.resize(host.size() - 3);
  }
  return {host, std::string(url)};
}
}  // namespace

// POST /purge?url=URL       the entries of one URL (all Vary variants)
// POST /purge?prefix=URL    every URL starting so ("/api/" or "http://host/api/")
// POST /purge?tag=TAG       every entry tagged so (the zone's tags_header)
boost::asio::awaitable<void> Admin::purge(Downstream& down, Worker& worker) const {
  const auto& rt = *worker.state()->runtime;
  auto query = down.request().query();
  auto ex = co_await boost::asio::this_coro::executor;
  auto client = [&](cache::Zone& z) -> cache::RedisClient& { return z.tier->client(static_cast<std::size_t>(worker.id()), ex); };
  std::size_t purged = 0, shared = 0;
  if (auto url = http::query_param(query, "url")) {
    auto [host, target] = split_url(*url);
    // The route that serves the URL knows its zone and how its keys
    // normalise the query.
    Router::Match m;
    auto path = std::string_view(target).substr(0, target.find('?'));
    if (rt.router.match(host, path, m) && m.route->cache) {
      const auto& rule = *m.route->cache;
      auto key = cache::url_key(host.empty() ? "-" : host, target, rule);
      auto second = key.find(cache::kKeySeparator, key.find(cache::kKeySeparator) + 1);
      std::string stored_target = key.substr(second + 1);
      auto& zone = *rt.zones[rule.zone_index];
      purged = zone.store.purge_prefix(host, stored_target, true);
      if (zone.tier) shared += co_await zone.tier->purge_target(client(zone), host, stored_target);
    }
  } else if (auto prefix = http::query_param(query, "prefix")) {
    auto [host, path] = split_url(*prefix);
    for (const auto& z : rt.zones) {
      purged += z->store.purge_prefix(host, path);
      if (z->tier) shared += co_await z->tier->purge_prefix(client(*z), host, path);
    }
  } else if (auto tag = http::query_param(query, "tag")) {
    for (const auto& z : rt.zones) {
      purged += z->store.purge_tag(*tag);
      if (z->tier) shared += co_await z->tier->purge_tag(client(*z), *tag);
    }
  } else {
    co_await respond(down, 400, "{\"error\":\"give url=, prefix= or tag=\"}\n", "application/json");
    co_return;
  }
  std::string body = "{\"purged\":" + std::to_string(purged);
  bool any_tier = false;
  for (const auto& z : rt.zones) any_tier = any_tier || z->tier;
  if (any_tier) body += ",\"purged_shared\":" + std::to_string(shared);
  body += "}\n";
  co_await respond(down, 200, body, "application/json");
}

boost::asio::awaitable<void> Admin::serve(Downstream& down, Worker& worker) {
  const auto& req = down.request();
  auto path = req.path();
  down.info().route = "admin";
  if (path == "/purge") {
    if (req.method != "POST") {
      co_await respond(down, 405, "405 Method Not Allowed: POST /purge?url=|prefix=|tag=\n");
      co_return;
    }
    co_await purge(down, worker);
    co_return;
  }
  if (req.method != "GET" && req.method != "HEAD") {
    co_await respond(down, 405, "405 Method Not Allowed\n");
    co_return;
  }
  if (path == "/metrics") {
    co_await respond(down, 200, metrics_text(worker), "text/plain; version=0.0.4; charset=utf-8");
  } else if (path == "/status") {
    co_await respond(down, 200, status_json(worker), "application/json");
  } else if (path == "/health") {
    co_await respond(down, 200, "ok\n");
  } else {
    co_await respond(down, 404, "404 Not Found: admin endpoints are /metrics, /status, /health, POST /purge\n");
  }
}

}  // namespace gateway
