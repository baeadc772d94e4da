#include "gateway/dispatch.hpp"

#include <optional>

#include "gateway/cache_proxy.hpp"
#include "gateway/compose/composer.hpp"
#include "gateway/compress.hpp"
#include "gateway/edge.hpp"
#include "gateway/proxy.hpp"
#include "gateway/upgrade.hpp"
#include "gateway/worker.hpp"

namespace gateway {

boost::asio::awaitable<void> serve_route(Downstream& client, const Router::Match& match, WorkerState& state,
                                         Worker& worker, ChainPtr chain) {
  const auto& route = *match.route;
  client.info().route = route.name;
  // The edge rules (gateway/edge.hpp): the client behind trusted proxies
  // (a fragment's request has no X-Forwarded-For of its own), and the
  // route's header rules around whatever answers.
  if (!chain) edge::resolve_client(client, *state.runtime->config);
  std::optional<edge::RuleDownstream> ruled;
  if (!route.headers.empty()) ruled.emplace(client, route.headers);
  Downstream& edited = ruled ? static_cast<Downstream&>(*ruled) : client;
  // Compression (gateway/compress.hpp) outside the header rules: what it
  // writes is edited by them as any response is. Never for a page's
  // fragment (`chain`): the page is compressed as a whole.
  std::optional<compress::CompressDownstream> compressing;
  if (const auto* c = chain ? nullptr : compress::config_for(route, *state.runtime->config);
      c && route.kind != RouteConfig::Kind::redirect)
    compressing.emplace(edited, *c);
  Downstream& down = compressing ? static_cast<Downstream&>(*compressing) : edited;
  auto* coder = compressing ? &*compressing : nullptr;
  switch (route.kind) {
    case RouteConfig::Kind::page: co_await compose::serve_page(down, match, state, worker, chain); break;
    case RouteConfig::Kind::aggregate: co_await compose::serve_aggregate(down, match, state, worker, chain); break;
    case RouteConfig::Kind::redirect: co_await edge::serve_redirect(down, route); break;
    case RouteConfig::Kind::proxy:
      // An upgrade is never cached: it goes straight through.
      if (!route.cache || decide_upgrade(down.request(), route.upgrade, down.can_tunnel()).tunnel)
        co_await proxy::serve(down, route, state, worker);
      else if (auto hit = cache_proxy::queue_memory_hit(down, match, state, coder))
        co_await down.write_body(*hit->body, true);  // the common hit, without the full path's coroutines
      else co_await cache_proxy::serve(down, match, state, worker, coder);
      break;
  }
  auto& stats = *state.route_stats[match.index];
  int status = down.status();
  if (status >= 100 && status < 600) stats.by_class[status / 100 - 1].inc();
  for (std::size_t i = 0; i < kCacheStatuses; ++i)
    if (down.info().cache == kCacheStatusNames[i]) stats.cache[i].inc();
}

}  // namespace gateway
