#include "gateway/dispatch.hpp"

#include <optional>

#include "gateway/cache_proxy.hpp"
#include "gateway/compose/composer.hpp"
#include "gateway/edge.hpp"
#include "gateway/proxy.hpp"
#include "gateway/rate_limit.hpp"
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
  Downstream& down = ruled ? static_cast<Downstream&>(*ruled) : client;
  // `limit:` (gateway/rate_limit.hpp) on clients' requests, not on a page's
  // fragments (nginx's limit_req skips subrequests); a refusal is counted there.
  const auto& limiter = state.runtime->limiters[match.index];
  if (!chain && limiter)
    if (!co_await limit::admit(down, *limiter, *state.route_stats[match.index])) co_return;
  switch (route.kind) {
    case RouteConfig::Kind::page: co_await compose::serve_page(down, match, state, worker, chain); break;
    case RouteConfig::Kind::aggregate: co_await compose::serve_aggregate(down, match, state, worker, chain); break;
    case RouteConfig::Kind::redirect: co_await edge::serve_redirect(down, route); break;
    case RouteConfig::Kind::proxy:
      // An upgrade is never cached: it goes straight through.
      if (!route.cache || decide_upgrade(down.request(), route.upgrade, down.can_tunnel()).tunnel)
        co_await proxy::serve(down, route, state, worker);
      else if (auto hit = cache_proxy::queue_memory_hit(down, match, state))
        co_await down.write_body(*hit->body, true);  // the common hit, without the full path's coroutines
      else co_await cache_proxy::serve(down, match, state, worker);
      break;
  }
  auto& stats = *state.route_stats[match.index];
  int status = down.status();
  if (status >= 100 && status < 600) stats.by_class[status / 100 - 1].inc();
  for (std::size_t i = 0; i < kCacheStatuses; ++i)
    if (down.info().cache == kCacheStatusNames[i]) stats.cache[i].inc();
}

}  // namespace gateway
