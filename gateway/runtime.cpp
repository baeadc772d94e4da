#include "gateway/runtime.hpp"

#include "base/log.hpp"

namespace gateway {

std::shared_ptr<const Runtime> Runtime::build(std::shared_ptr<const Config> config, const Runtime* previous,
                                              std::string& error) {
  auto sink = AccessLogSink::open(config->access_log, config->access_log_format, error);
  if (!sink) return nullptr;
  auto rt = std::make_shared<Runtime>(Runtime{config, Router(*config), {}, {}, {}, {}, std::move(sink), {}});
  for (const auto& uc : config->upstreams) {
    const upstreams::Group* old = nullptr;
    if (previous)
      for (const auto& g : previous->groups)
        if (g->name() == uc.name) old = g.get();
    rt->groups.push_back(std::make_shared<upstreams::Group>(uc, old));
  }
  for (const auto& zc : config->caches) {
    std::shared_ptr<cache::Zone> zone;
    if (previous)
      for (const auto& z : previous->zones)
        if (z->config.path == zc.path) zone = z;
    // Kept (same path): its store takes the new limits now, evicting down to
    // a smaller size. New: opened, its directory loaded in the background.
    // A zone the file no longer has is dropped with the old Runtime (its
    // entries stay on disk).
    if (zone && zone->reconfigure(zc)) log::info("cache " + zc.name + ": resized (" + zc.path + ")");
    if (zone) cache::reload_shared_tier(zone->tier.get(), zc);  // redis: settings apply on reload
    if (!zone) zone = std::make_shared<cache::Zone>(zc);
    rt->zones.push_back(std::move(zone));
  }
  rt->limiters = limit::build_limiters(*config, previous);
  const auto& l = config->limits;
  rt->request_limits = http::ParserLimits{l.uri_bytes, l.header_bytes, l.headers, l.body_bytes};
  // Upstream responses: the same head limits, no body limit (bodies stream).
  rt->response_limits = http::ParserLimits{l.uri_bytes, l.header_bytes, l.headers, 0};
  return rt;
}

WorkerState::WorkerState(std::shared_ptr<const Runtime> rt, WorkerMetrics& metrics, std::size_t worker,
                         WorkerState* previous)
    : runtime(std::move(rt)) {
  const auto& cfg = *runtime->config;
  for (std::size_t i = 0; i < cfg.upstreams.size(); ++i) {
    auto& us = metrics.upstream(cfg.upstreams[i].name);
    upstream_stats.push_back(&us);
    upstreams::Pool* old = nullptr;
    if (previous)
      for (auto& p : previous->pools)
        if (p->group().name() == cfg.upstreams[i].name) old = p.get();
    pools.push_back(std::make_unique<upstreams::Pool>(runtime->groups[i], &us.pool, worker, old));
  }
  for (const auto& r : cfg.routes) route_stats.push_back(&metrics.route(r.name));
  for (const auto& z : cfg.caches) zone_stats.push_back(&metrics.zone(z.name));
}

}  // namespace gateway
