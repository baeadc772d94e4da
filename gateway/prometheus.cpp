#include "gateway/prometheus.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <map>
#include <span>

#include "gateway/compress.hpp"
#include "gateway/compress_variant.hpp"
#include "gateway/metrics.hpp"
#include "gateway/runtime.hpp"
#include "gateway/static_memory.hpp"
#include "gateway/tunnel.hpp"

namespace gateway::prometheus {

namespace {

// Writes the text family after family: HELP and TYPE lines, then samples.
class Text {
 public:
  explicit Text(std::string& out) : out_(out) {}

  void family(std::string_view name, std::string_view help, std::string_view type) {
    out_.append("# HELP ").append(name).append(" ").append(help).append("\n");
    out_.append("# TYPE ").append(name).append(" ").append(type).append("\n");
  }
  // `labels`: pairs written by label(), comma-separated; empty for none.
  void sample(std::string_view name, std::string_view labels, std::string_view value) {
    out_.append(name);
    if (!labels.empty()) out_.append("{").append(labels).append("}");
    out_.append(" ").append(value).append("\n");
  }
  void sample(std::string_view name, std::string_view labels, std::uint64_t value) {
    sample(name, labels, std::to_string(value));
  }

 private:
  std::string& out_;
};

// name="value", the value escaped.
std::string label(std::string_view name, std::string_view value) {
  std::string out(name);
  out.append("=\"").append(escape_label_value(value)).append("\"");
  return out;
}

std::string fmt_double(double v, const char* format = "%.6g") {
  char buf[32];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

std::uint64_t load(const std::atomic<std::uint64_t>& a) { return a.load(); }

// A family with one value per upstream group or cache zone: where, in the
// group's or zone's numbers, its value is.
template <class Stats, class Value>
struct Family {
  const char* name;
  const char* help;
  Value Stats::*field;
};

template <class Get>
std::uint64_t sum(const std::vector<const WorkerMetrics*>& workers, Get get) {
  std::uint64_t t = 0;
  for (const auto* w : workers) t += get(*w);
  return t;
}

// --- The workers' counters ----------------------------------------------------

void write_connections(Text& text, const std::vector<const WorkerMetrics*>& workers) {
  text.family("gateway_connections_active", "Client connections open now.", "gauge");
  text.sample("gateway_connections_active", "",
              sum(workers, [](const WorkerMetrics& w) { return w.connections_active.get(); }));
  text.family("gateway_connections_parked", "Idle keep-alive client connections parked (no buffer, no coroutine).", "gauge");
  text.sample("gateway_connections_parked", "",
              sum(workers, [](const WorkerMetrics& w) { return w.connections_parked.get(); }));
  text.family("gateway_connections_total", "Client connections accepted.", "counter");
  text.sample("gateway_connections_total", "",
              sum(workers, [](const WorkerMetrics& w) { return w.connections_total.get(); }));
  text.family("gateway_bad_requests_total", "Requests refused by the parser (4xx before routing).", "counter");
  text.sample("gateway_bad_requests_total", "",
              sum(workers, [](const WorkerMetrics& w) { return w.bad_requests.get(); }));
  text.family("gateway_proxy_protocol_rejected_total",
              "Connections closed for a missing, malformed or late PROXY protocol header.", "counter");
  text.sample("gateway_proxy_protocol_rejected_total", "",
              sum(workers, [](const WorkerMetrics& w) { return w.proxy_protocol_rejected.get(); }));
  text.family("gateway_connections_refused_total", "Client connections closed at accept, by reason.", "counter");
  text.sample("gateway_connections_refused_total", label("reason", "per_client"),
              sum(workers, [](const WorkerMetrics& w) { return w.connections_refused_per_client.get(); }));
}

// Upgraded connections (WebSocket tunnels, gateway/tunnel.hpp).
void write_tunnels(Text& text, const std::vector<const WorkerMetrics*>& workers) {
  text.family("gateway_tunnels_active", "Upgraded connections (WebSocket) open now.", "gauge");
  text.sample("gateway_tunnels_active", "", sum(workers, [](const WorkerMetrics& w) { return w.tunnels_active.get(); }));
  text.family("gateway_tunnels_total", "Upgraded connections opened (101 from an instance).", "counter");
  text.sample("gateway_tunnels_total", "", sum(workers, [](const WorkerMetrics& w) { return w.tunnels_total.get(); }));
  text.family("gateway_tunnel_bytes_total", "Bytes carried by tunnels, by direction.", "counter");
  text.sample("gateway_tunnel_bytes_total", label("direction", "from_client"),
              sum(workers, [](const WorkerMetrics& w) { return w.tunnel_bytes_from_clients.get(); }));
  text.sample("gateway_tunnel_bytes_total", label("direction", "to_client"),
              sum(workers, [](const WorkerMetrics& w) { return w.tunnel_bytes_to_clients.get(); }));
  text.family("gateway_tunnels_closed_total", "Tunnels ended, by why.", "counter");
  for (std::size_t i = 0; i < Tunnel::kEnds; ++i)
    text.sample("gateway_tunnels_closed_total", label("reason", Tunnel::kEndNames[i]),
                sum(workers, [i](const WorkerMetrics& w) { return w.tunnel_ends[i].get(); }));
}

void write_http2(Text& text, const std::vector<const WorkerMetrics*>& workers) {
  struct Family {
    const char* name;
    const char* help;
    Counter Http2Stats::*field;
  };
  static constexpr Family kFamilies[] = {
      {"gateway_http2_connections_total", "Client connections served with HTTP/2.", &Http2Stats::connections},
      {"gateway_http2_streams_total", "HTTP/2 streams (requests) opened by clients.", &Http2Stats::streams},
      {"gateway_http2_streams_refused_total", "HTTP/2 streams refused: over max_concurrent_streams.",
       &Http2Stats::streams_refused},
      {"gateway_http2_streams_reset_total", "HTTP/2 streams reset by the client.", &Http2Stats::streams_reset},
  };
  for (const auto& f : kFamilies) {
    text.family(f.name, f.help, "counter");
    text.sample(f.name, "", sum(workers, [&](const WorkerMetrics& w) { return (w.http2.*f.field).get(); }));
  }
  text.family("gateway_http2_goaway_total", "GOAWAY frames sent to HTTP/2 clients, by reason.", "counter");
  for (std::size_t r = 0; r < Http2Stats::kReasons; ++r)
    text.sample("gateway_http2_goaway_total", label("reason", Http2Stats::kReasonNames[r]),
                sum(workers, [&](const WorkerMetrics& w) { return w.http2.goaway[r].get(); }));
}

// Per route name, summed over workers: answers by status class, and what
// became of the fragments of page and aggregate routes.
void write_routes(Text& text, const std::vector<const WorkerMetrics*>& workers) {
  struct Route {
    std::array<std::uint64_t, 5> by_class{};
    std::array<std::uint64_t, 5> fragments{};  // kOutcomes
    std::array<std::uint64_t, 2> denied{};     // access::kRefusalNames
    std::array<std::uint64_t, 3> limit{};      // kLimitResults
  };
  static constexpr const char* kLimitResults[] = {"passed", "delayed", "rejected"};
  static constexpr const char* kOutcomes[] = {"hit", "miss", "timeout", "error", "fallback"};
  std::map<std::string, Route> routes;
  for (const auto* w : workers)
    w->for_each_route([&](const std::string& name, const RouteStats& s) {
      auto& r = routes[name];
      for (std::size_t i = 0; i < 5; ++i) r.by_class[i] += s.by_class[i].get();
      r.fragments[0] += s.fragment_hits.get();
      r.fragments[1] += s.fragment_misses.get();
      r.fragments[2] += s.fragment_timeouts.get();
      r.fragments[3] += s.fragment_errors.get();
      r.fragments[4] += s.fragment_fallbacks.get();
      for (std::size_t i = 0; i < 2; ++i) r.denied[i] += s.access_denied[i].get();
      for (std::size_t i = 0; i < 3; ++i) r.limit[i] += s.limit[i].get();
    });

  text.family("gateway_requests_total", "Requests answered, by route and status class.", "counter");
  for (const auto& [name, r] : routes)
    for (std::size_t i = 0; i < 5; ++i)
      text.sample("gateway_requests_total", label("route", name) + "," + label("code", std::to_string(i + 1) + "xx"),
                  r.by_class[i]);

  text.family("gateway_page_fragments_total",
              "Fragments of page and aggregate routes, by outcome "
              "(hit: from the cache; miss: from upstream; fallback: replaced or left out).",
              "counter");
  for (const auto& [name, r] : routes) {
    std::uint64_t any = 0;
    for (auto v : r.fragments) any += v;
    if (any == 0) continue;
    for (std::size_t i = 0; i < 5; ++i)
      text.sample("gateway_page_fragments_total", label("route", name) + "," + label("outcome", kOutcomes[i]),
                  r.fragments[i]);
  }

  text.family("gateway_access_denied_total", "Requests refused by access control (403 address, 401 auth).", "counter");
  for (const auto& [name, r] : routes)
    for (std::size_t i = 0; i < 2; ++i)
      if (r.denied[0] + r.denied[1] > 0)
        text.sample("gateway_access_denied_total",
                    label("route", name) + "," + label("reason", access::kRefusalNames[i]), r.denied[i]);

  text.family("gateway_limit_requests_total", "Requests of rate-limited routes (limit:), by result.", "counter");
  for (const auto& [name, r] : routes) {
    if (r.limit[0] + r.limit[1] + r.limit[2] == 0) continue;
    for (std::size_t i = 0; i < 3; ++i)
      text.sample("gateway_limit_requests_total", label("route", name) + "," + label("result", kLimitResults[i]),
                  r.limit[i]);
  }
}

// Per upstream group, summed over workers.
struct UpstreamSums {
  std::array<std::uint64_t, Histogram::kBounds.size() + 1> buckets{};
  std::uint64_t sum_us = 0, count = 0, opened = 0, reused = 0, errors = 0, retries = 0, panic_requests = 0;
  std::uint64_t tls_handshakes = 0, tls_resumed = 0;
};

constexpr Family<UpstreamSums, std::uint64_t> kUpstreamCounters[] = {
    {"gateway_upstream_connections_opened_total", "Upstream connections opened.", &UpstreamSums::opened},
    {"gateway_upstream_connections_reused_total", "Requests sent on a kept-alive upstream connection.",
     &UpstreamSums::reused},
    {"gateway_upstream_errors_total", "Requests answered 502/504 because of this upstream.", &UpstreamSums::errors},
    {"gateway_upstream_retries_total", "Attempts moved to another instance.", &UpstreamSums::retries},
    {"gateway_upstream_panic_requests_total",
     "Requests balanced while the group was in panic (over every instance, ejected or down ones too).",
     &UpstreamSums::panic_requests},
    {"gateway_upstream_tls_handshakes_total", "TLS handshakes with instances (groups with tls).",
     &UpstreamSums::tls_handshakes},
    {"gateway_upstream_tls_resumed_total", "Upstream TLS handshakes that resumed a session.",
     &UpstreamSums::tls_resumed},
};

void write_upstreams(Text& text, const std::vector<const WorkerMetrics*>& workers) {
  std::map<std::string, UpstreamSums> ups;
  for (const auto* w : workers)
    w->for_each_upstream([&](const std::string& name, const UpstreamStats& s) {
      auto& u = ups[name];
      for (std::size_t i = 0; i < u.buckets.size(); ++i) u.buckets[i] += s.response_time.buckets[i].get();
      u.sum_us += s.response_time.sum_us.get();
      u.count += s.response_time.count.get();
      u.opened += s.pool.opened.load(std::memory_order_relaxed);
      u.reused += s.pool.reused.load(std::memory_order_relaxed);
      u.tls_handshakes += s.pool.tls_handshakes.load(std::memory_order_relaxed);
      u.tls_resumed += s.pool.tls_resumed.load(std::memory_order_relaxed);
      u.errors += s.errors.get();
      u.retries += s.retries.get();
      u.panic_requests += s.panic_requests.get();
    });

  text.family("gateway_upstream_response_seconds", "Time from request sent to response head received.", "histogram");
  for (const auto& [name, u] : ups) {
    const std::string group = label("upstream", name);
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < u.buckets.size(); ++i) {
      cumulative += u.buckets[i];
      std::string le = i < Histogram::kBounds.size() ? fmt_double(Histogram::kBounds[i]) : "+Inf";
      text.sample("gateway_upstream_response_seconds_bucket", group + "," + label("le", le), cumulative);
    }
    text.sample("gateway_upstream_response_seconds_sum", group, fmt_double(static_cast<double>(u.sum_us) / 1e6));
    text.sample("gateway_upstream_response_seconds_count", group, u.count);
  }
  for (const auto& f : kUpstreamCounters) {
    text.family(f.name, f.help, "counter");
    for (const auto& [name, u] : ups) text.sample(f.name, label("upstream", name), u.*f.field);
  }
}

// Per instance, requests in flight over all workers; per group, its queue
// (max_conns, upstreams/slots.hpp).
void write_upstream_balance(Text& text, const Runtime& rt) {
  text.family("gateway_upstream_in_flight", "Requests in flight to the instance, over all workers.", "gauge");
  for (const auto& g : rt.groups)
    for (std::size_t i = 0; i < g->size(); ++i)
      text.sample("gateway_upstream_in_flight",
                  label("upstream", g->name()) + "," + label("instance", g->instance(i).address.text),
                  static_cast<std::uint64_t>(std::max(0, g->instance(i).in_flight.load(std::memory_order_relaxed))));
  text.family("gateway_upstream_queued", "Requests waiting for a slot (every instance at max_conns).", "gauge");
  for (const auto& g : rt.groups)
    text.sample("gateway_upstream_queued", label("upstream", g->name()),
                static_cast<std::uint64_t>(g->queue().waiting()));
  text.family("gateway_upstream_queue_timeouts_total", "Requests that waited queue_timeout for a slot in vain (503).",
              "counter");
  for (const auto& g : rt.groups)
    text.sample("gateway_upstream_queue_timeouts_total", label("upstream", g->name()), g->queue().timeouts.load());
  text.family("gateway_upstream_queue_rejections_total", "Requests refused because the queue was full (503).",
              "counter");
  for (const auto& g : rt.groups)
    text.sample("gateway_upstream_queue_rejections_total", label("upstream", g->name()), g->queue().rejections.load());
}

// Per upstream group, from the Runtime: whether it is in panic now
// (availability.hpp), and how often it entered panic.
void write_upstream_groups(Text& text, const Runtime& rt) {
  text.family("gateway_upstream_panic",
              "1 while the group is in panic: too few instances usable (panic_threshold), all are used.", "gauge");
  auto now = Clock::now();
  for (const auto& g : rt.groups) text.sample("gateway_upstream_panic", label("upstream", g->name()), g->check(now) ? "1" : "0");
  text.family("gateway_upstream_panic_entries_total", "Times the group entered panic.", "counter");
  for (const auto& g : rt.groups) text.sample("gateway_upstream_panic_entries_total", label("upstream", g->name()), g->panic_entries());
  write_upstream_balance(text, rt);
}

// Per TLS listener (its address), summed over workers: handshakes by
// result, resumed sessions, and the versions negotiated.
void write_tls(Text& text, const std::vector<const WorkerMetrics*>& workers) {
  struct Sums {
    std::uint64_t ok = 0, failed = 0, resumed = 0, tls12 = 0, tls13 = 0;
  };
  std::map<std::string, Sums> listeners;
  for (const auto* w : workers)
    w->for_each_tls([&](const std::string& name, const TlsStats& s) {
      auto& t = listeners[name];
      t.ok += s.handshakes_ok.get();
      t.failed += s.handshakes_failed.get();
      t.resumed += s.resumed.get();
      t.tls12 += s.tls12.get();
      t.tls13 += s.tls13.get();
    });
  text.family("gateway_tls_handshakes_total",
              "TLS handshakes with clients by listener and result (failed: refused, broken off or timed out).",
              "counter");
  for (const auto& [name, t] : listeners) {
    text.sample("gateway_tls_handshakes_total", label("listener", name) + "," + label("result", "ok"), t.ok);
    text.sample("gateway_tls_handshakes_total", label("listener", name) + "," + label("result", "failed"), t.failed);
  }
  text.family("gateway_tls_resumed_total", "TLS handshakes that resumed a session (ticket or cache).", "counter");
  for (const auto& [name, t] : listeners) text.sample("gateway_tls_resumed_total", label("listener", name), t.resumed);
  text.family("gateway_tls_versions_total", "TLS handshakes by the protocol version negotiated.", "counter");
  for (const auto& [name, t] : listeners) {
    text.sample("gateway_tls_versions_total", label("listener", name) + "," + label("version", "TLSv1.2"), t.tls12);
    text.sample("gateway_tls_versions_total", label("listener", name) + "," + label("version", "TLSv1.3"), t.tls13);
  }
}

// --- The cache ----------------------------------------------------------------

// What the cache did, per zone name, summed over workers.
struct ZoneSums {
  std::array<std::uint64_t, kCacheStatuses> by_status{};
  std::uint64_t coalesced = 0, background = 0;
};

std::map<std::string, ZoneSums> zone_sums(const std::vector<const WorkerMetrics*>& workers) {
  std::map<std::string, ZoneSums> zones;
  for (const auto* w : workers)
    w->for_each_zone([&](const std::string& name, const ZoneStats& z) {
      auto& t = zones[name];
      for (std::size_t i = 0; i < kCacheStatuses; ++i) t.by_status[i] += z.cache[i].get();
      t.coalesced += z.coalesced.get();
      t.background += z.background_updates.get();
    });
  return zones;
}

// Responses by zone and X-Cache status, the share served from the cache,
// and the zones' coalesced requests and background refreshes.
void write_zone_activity(Text& text, const std::map<std::string, ZoneSums>& zones, const Runtime& rt) {
  text.family("gateway_cache_responses_total", "Responses by zone and what the cache did (X-Cache).", "counter");
  for (const auto& [name, z] : zones)
    for (std::size_t i = 0; i < kCacheStatuses; ++i)
      text.sample("gateway_cache_responses_total", label("zone", name) + "," + label("status", kCacheStatusNames[i]),
                  z.by_status[i]);

  text.family("gateway_cache_hit_ratio",
              "Share of responses served from the cache (HIT, STALE, UPDATING, REVALIDATED).", "gauge");
  for (const auto& [name, z] : zones) {
    const auto& s = z.by_status;
    auto served = s[0] + s[2] + s[3] + s[6];  // HIT, STALE, REVALIDATED, UPDATING
    auto total = served + s[1] + s[5];        // + MISS, EXPIRED
    double ratio = total ? static_cast<double>(served) / static_cast<double>(total) : 0.0;
    text.sample("gateway_cache_hit_ratio", label("zone", name), fmt_double(ratio, "%.4f"));
  }

  // These two follow the configured zones, in configuration order.
  auto per_zone = [&](const char* metric, const char* help, std::uint64_t ZoneSums::*field) {
    text.family(metric, help, "counter");
    for (std::size_t i = 0; i < rt.zones.size(); ++i) {
      const auto& name = rt.config->caches[i].name;
      auto it = zones.find(name);
      text.sample(metric, label("zone", name), it == zones.end() ? 0 : it->second.*field);
    }
  };
  per_zone("gateway_cache_coalesced_total", "Requests that followed another request's fill instead of going upstream.",
           &ZoneSums::coalesced);
  per_zone("gateway_cache_background_updates_total", "Stale-while-revalidate refreshes started.",
           &ZoneSums::background);
}

using StoreFamily = Family<cache::StoreStats, std::atomic<std::uint64_t>>;

void write_store_families(Text& text, const Runtime& rt, const char* type, std::span<const StoreFamily> families) {
  for (const auto& f : families) {
    text.family(f.name, f.help, type);
    for (std::size_t i = 0; i < rt.zones.size(); ++i)
      text.sample(f.name, label("zone", rt.config->caches[i].name), load(rt.zones[i]->store.stats().*f.field));
  }
}

constexpr StoreFamily kStoreCounters[] = {
    {"gateway_cache_stores_total", "Entries written.", &cache::StoreStats::stores},
    {"gateway_cache_evictions_total", "Entries evicted to stay under max_size.", &cache::StoreStats::evictions},
    {"gateway_cache_inactive_removed_total", "Entries removed after `inactive` without use.",
     &cache::StoreStats::inactive_removed},
    {"gateway_cache_purged_total", "Entries removed by purges and invalidations.", &cache::StoreStats::purged},
    {"gateway_cache_write_errors_total", "Entries not stored because of a disk error.",
     &cache::StoreStats::write_errors},
    {"gateway_cache_disk_backlog_refused_total",
     "Fills not stored: files waiting for deletion held the disk at max_size.", &cache::StoreStats::backlog_refused},
    {"gateway_cache_admission_refused_total", "Fills not stored: the zone's admission rule refused them.",
     &cache::StoreStats::admission_refused},
    {"gateway_cache_inline_unlinks_total", "Files waiting for deletion that a committing fill deleted itself.",
     &cache::StoreStats::inline_unlinks},
    {"gateway_cache_recycled_files_total", "Evicted files emptied and reused for new fills instead of deleted.",
     &cache::StoreStats::recycled_files},
    {"gateway_cache_files_created_total", "New files created for fills.", &cache::StoreStats::files_created},
};

constexpr StoreFamily kStoreGauges[] = {
    {"gateway_cache_entries", "Entries stored.", &cache::StoreStats::entries},
    {"gateway_cache_bytes", "Bytes on disk counted against max_size.", &cache::StoreStats::bytes},
    {"gateway_cache_disk_bytes", "Bytes of entry files on disk, with those waiting for deletion.",
     &cache::StoreStats::disk_bytes},
    {"gateway_cache_disk_backlog_files", "Files removed from the cache and waiting for deletion.",
     &cache::StoreStats::backlog_files},
    {"gateway_cache_writing_bytes", "Bytes written by the fills in flight (temporary files).",
     &cache::StoreStats::writing_bytes},
    {"gateway_cache_memory_bytes", "Bodies held in the RAM tier.", &cache::StoreStats::memory_bytes},
};

// The shared Redis tier of the zones that have one. Its counters are left
// out when no zone has a tier; gateway_redis_up is always declared.
void write_shared_tiers(Text& text, const Runtime& rt) {
  static constexpr Family<cache::SharedTierStats, std::atomic<std::uint64_t>> kCounters[] = {
      {"gateway_redis_hits_total", "Local misses found in the shared tier.", &cache::SharedTierStats::hits},
      {"gateway_redis_misses_total", "Local misses not in the shared tier either.", &cache::SharedTierStats::misses},
      {"gateway_redis_errors_total", "Shared-tier lookups and locks that failed (Redis down, slow, or wrong).",
       &cache::SharedTierStats::errors},
      {"gateway_redis_fills_total", "Entries written to the shared tier.", &cache::SharedTierStats::fills},
      {"gateway_redis_lock_waits_total", "Misses that waited for another gateway's fill.",
       &cache::SharedTierStats::lock_waits},
      {"gateway_redis_lock_waits_cut_total",
       "Lock waits ended early because the connection to Redis was lost (the waiter fetched itself).",
       &cache::SharedTierStats::lock_waits_cut},
      {"gateway_redis_purges_sent_total", "Purges sent to the fleet.", &cache::SharedTierStats::purges_sent},
      {"gateway_redis_purges_received_total", "Purges received from other gateways.",
       &cache::SharedTierStats::purges_received},
  };
  bool any = false;
  for (const auto& z : rt.zones) any = any || z->tier;
  if (any)
    for (const auto& f : kCounters) {
      text.family(f.name, f.help, "counter");
      for (std::size_t i = 0; i < rt.zones.size(); ++i)
        if (rt.zones[i]->tier)
          text.sample(f.name, label("zone", rt.config->caches[i].name), load(rt.zones[i]->tier->stats().*f.field));
    }
  text.family("gateway_redis_up", "Whether the zone's shared tier is reachable.", "gauge");
  for (std::size_t i = 0; i < rt.zones.size(); ++i)
    if (rt.zones[i]->tier)
      text.sample("gateway_redis_up", label("zone", rt.config->caches[i].name), rt.zones[i]->tier->up() ? "1" : "0");
}

// The request traces of the zones that have one (cache/trace.hpp).
void write_traces(Text& text, const Runtime& rt) {
  static constexpr Family<cache::TraceStats, std::atomic<std::uint64_t>> kCounters[] = {
      {"gateway_cache_trace_records_total", "Request records written to the zone's trace.", &cache::TraceStats::records},
      {"gateway_cache_trace_dropped_total", "Trace records dropped: the buffer was full or the write failed.",
       &cache::TraceStats::dropped},
  };
  bool any = false;
  for (const auto& z : rt.zones) any = any || z->trace();
  if (!any) return;
  for (const auto& f : kCounters) {
    text.family(f.name, f.help, "counter");
    for (std::size_t i = 0; i < rt.zones.size(); ++i)
      if (const auto* t = rt.zones[i]->trace())
        text.sample(f.name, label("zone", rt.config->caches[i].name), load(t->stats().*f.field));
  }
}

// What the `static:` routes keep in memory (gateway/static_memory.hpp).
void write_static_memory(Text& text, const Runtime& rt) {
  struct Family {
    const char* name;
    const char* help;
    std::uint64_t (*value)(const static_files::Memory&);
  };
  static constexpr Family kGauges[] = {
      {"gateway_static_memory_bytes", "Bytes of small files a static route keeps in memory (memory:).",
       [](const static_files::Memory& m) -> std::uint64_t { return m.bytes(); }},
      {"gateway_static_memory_files", "Files a static route keeps in memory.",
       [](const static_files::Memory& m) -> std::uint64_t { return m.files(); }},
  };
  for (const auto& f : kGauges) {
    bool any = false;
    for (const auto& route : rt.config->routes) {
      if (!route.static_files || !route.static_files->kept) continue;
      if (!any) text.family(f.name, f.help, "gauge");
      any = true;
      text.sample(f.name, label("route", route.name), f.value(*route.static_files->kept));
    }
  }
}

// What the cache did per route, for the routes it did anything for.
void write_route_cache(Text& text, const std::vector<const WorkerMetrics*>& workers) {
  std::map<std::string, std::array<std::uint64_t, kCacheStatuses>> routes;
  for (const auto* w : workers)
    w->for_each_route([&](const std::string& name, const RouteStats& r) {
      auto& a = routes[name];
      for (std::size_t i = 0; i < kCacheStatuses; ++i) a[i] += r.cache[i].get();
    });
  text.family("gateway_route_cache_total", "Responses of cached routes by what the cache did.", "counter");
  for (const auto& [name, a] : routes) {
    std::uint64_t any = 0;
    for (auto v : a) any += v;
    if (!any) continue;
    for (std::size_t i = 0; i < kCacheStatuses; ++i)
      text.sample("gateway_route_cache_total", label("route", name) + "," + label("status", kCacheStatusNames[i]),
                  a[i]);
  }
}

}  // namespace

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

// Response compression (gateway/compress.hpp, compress_variant.hpp).
void write_compression(Text& text) {
  const auto streamed = compress::compressed_counts();
  text.family("gateway_compressed_responses_total", "Responses compressed as they streamed, by coding.", "counter");
  text.sample("gateway_compressed_responses_total", label("coding", "gzip"), streamed.gzip);
  text.sample("gateway_compressed_responses_total", label("coding", "br"), streamed.br);
  const auto variants = compress::variant_counts();
  text.family("gateway_compress_variants_made_total", "Compressed variants of cached entries made and stored.",
              "counter");
  text.sample("gateway_compress_variants_made_total", "", variants.made);
  text.family("gateway_compress_variant_hits_total", "Cache hits served from a stored compressed variant.",
              "counter");
  text.sample("gateway_compress_variant_hits_total", "", variants.hits);
}

void append_worker_families(std::string& out, const std::vector<const WorkerMetrics*>& workers) {
  Text text(out);
  write_connections(text, workers);
  write_tunnels(text, workers);
  write_routes(text, workers);
  write_upstreams(text, workers);
  write_tls(text, workers);
  write_http2(text, workers);
}

void append_cache_families(std::string& out, const std::vector<const WorkerMetrics*>& workers, const Runtime& rt) {
  Text text(out);
  write_zone_activity(text, zone_sums(workers), rt);
  write_store_families(text, rt, "counter", kStoreCounters);
  write_shared_tiers(text, rt);
  write_traces(text, rt);
  write_store_families(text, rt, "gauge", kStoreGauges);
  write_route_cache(text, workers);
}

std::string render(const std::vector<const WorkerMetrics*>& workers, const Runtime& rt) {
  std::string out;
  append_worker_families(out, workers);
  Text text(out);
  write_upstream_groups(text, rt);
  write_compression(text);
  write_static_memory(text, rt);
  append_cache_families(out, workers, rt);
  return out;
}

}  // namespace gateway::prometheus
