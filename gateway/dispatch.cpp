#include "gateway/dispatch.hpp"

#include <optional>

#include "gateway/access_serve.hpp"
#include "gateway/cache_proxy.hpp"
#include "gateway/compose/composer.hpp"
#include "gateway/compress.hpp"
#include "gateway/edge.hpp"
#include "gateway/error_pages.hpp"
#include "gateway/proxy.hpp"
#include "gateway/rate_limit.hpp"
#include "gateway/static_files.hpp"
#include "gateway/upgrade.hpp"
#include "gateway/worker.hpp"

namespace gateway {

boost::asio::awaitable<void> serve_route(Downstream& client, const Router::Match& match, WorkerState& state,
                                         Worker& worker, ChainPtr chain) {
  const auto& route = *match.route;
  client.info().route = route.name;
  // The route's error pages (gateway/error_pages.hpp), first: every answer
  // of the gateway's own on this route gets them (a fragment's errors
  // belong to its page).
  const auto& pages = error_pages::for_route(route, *state.runtime->config);
  if (!chain) client.info().error_pages = &pages;
  // The edge rules (gateway/edge.hpp): the client behind trusted proxies
  // (a fragment's request has no X-Forwarded-For of its own), and the
  // route's header rules around whatever answers.
  if (!chain) edge::resolve_client(client, *state.runtime->config);
  // Who may come in, then the route's rewrite (gateway/access_serve.hpp).
  auto& stats = *state.route_stats[match.index];
  const Config& config = *state.runtime->config;
  bool go = true;
  // On clients' requests, not on a page's fragments (nginx's limit_req and
  // access modules skip subrequests), in nginx's order: the rate limit
  // (gateway/rate_limit.hpp), then the address and the credentials.
  if (const auto& limiter = state.runtime->limiters[match.index]; !chain && limiter)
    go = co_await limit::admit(client, *limiter, stats);
  if (go && !chain && access::restricted(route, config)) go = co_await access::admit(client, route, config, stats);
  // Each wrapper only where the route asks for it: the common exchange
  // goes straight to the client.
  std::optional<access::Rewritten> edited;
  if (access::Rewritten::needed(route, config)) edited.emplace(client, route, config);
  Downstream& rewritten = edited ? static_cast<Downstream&>(*edited) : client;
  std::optional<edge::RuleDownstream> ruled;
  if (!route.headers.empty()) ruled.emplace(rewritten, route.headers);
  Downstream& edited_out = ruled ? static_cast<Downstream&>(*ruled) : rewritten;
  // Compression (gateway/compress.hpp) outside the header rules: what it
  // writes is edited by them as any response is. Never for a page's
  // fragment (`chain`): the page is compressed as a whole.
  std::optional<compress::CompressDownstream> compressing;
  if (const auto* c = chain ? nullptr : compress::config_for(route, config);
      c && route.kind != RouteConfig::Kind::redirect)
    compressing.emplace(edited_out, *c);
  Downstream& encoded = compressing ? static_cast<Downstream&>(*compressing) : edited_out;
  auto* coder = compressing ? &*compressing : nullptr;
  // With `intercept`, the instances' errors get the route's pages too
  // (then compressed as any response).
  std::optional<error_pages::InterceptDownstream> intercepted;
  if (route.error_pages && route.error_pages->intercept) intercepted.emplace(encoded, pages);
  Downstream& down = intercepted ? static_cast<Downstream&>(*intercepted) : encoded;
  if (go && edited && edited->redirects()) {
    co_await edited->answer();
    go = false;
  }
  if (go) switch (route.kind) {
    case RouteConfig::Kind::page: co_await compose::serve_page(down, match, state, worker, chain); break;
    case RouteConfig::Kind::aggregate: co_await compose::serve_aggregate(down, match, state, worker, chain); break;
    case RouteConfig::Kind::redirect: co_await edge::serve_redirect(down, route); break;
    case RouteConfig::Kind::static_files:
      co_await static_files::serve(down, *route.static_files,
                                   route.strip_prefix ? std::string_view(route.prefix) : std::string_view());
      break;
    case RouteConfig::Kind::proxy:
      // An upgrade is never cached: it goes straight through.
      if (!route.cache || decide_upgrade(down.request(), route.upgrade, down.can_tunnel()).tunnel)
        co_await proxy::serve(down, route, state, worker);
      else if (auto hit = cache_proxy::queue_memory_hit(down, match, state, coder))
        co_await down.write_body(*hit->body, true);  // the common hit, without the full path's coroutines
      else co_await cache_proxy::serve(down, match, state, worker, coder);
      break;
  }
  int status = down.status();
  if (status >= 100 && status < 600) stats.by_class[status / 100 - 1].inc();
  for (std::size_t i = 0; i < kCacheStatuses; ++i)
    if (down.info().cache == kCacheStatusNames[i]) stats.cache[i].inc();
}

}  // namespace gateway
