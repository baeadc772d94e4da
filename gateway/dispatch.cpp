#include "gateway/dispatch.hpp"

#include "gateway/cache_proxy.hpp"
#include "gateway/compose/composer.hpp"
#include "gateway/proxy.hpp"
#include "gateway/upgrade.hpp"
#include "gateway/worker.hpp"

namespace gateway {

boost::asio::awaitable<void> serve_route(Downstream& down, const Router::Match& match, WorkerState& state,
                                         Worker& worker, ChainPtr chain) {
  const auto& route = *match.route;
  down.info().route = route.name;
  switch (route.kind) {
    case RouteConfig::Kind::page: co_await compose::serve_page(down, match, state, worker, chain); break;
    case RouteConfig::Kind::aggregate: co_await compose::serve_aggregate(down, match, state, worker, chain); break;
    case RouteConfig::Kind::proxy:
      // An upgrade is never cached: it goes straight through.
      if (route.cache && !decide_upgrade(down.request(), route.upgrade, down.can_tunnel()).tunnel)
        co_await cache_proxy::serve(down, match, state, worker);
      else co_await proxy::serve(down, route, state, worker);
      break;
  }
  auto& stats = *state.route_stats[match.index];
  int status = down.status();
  if (status >= 100 && status < 600) stats.by_class[status / 100 - 1].inc();
  for (std::size_t i = 0; i < kCacheStatuses; ++i)
    if (down.info().cache == kCacheStatusNames[i]) stats.cache[i].inc();
}

}  // namespace gateway
