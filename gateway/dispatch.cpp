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

namespace {

// The downstreams a route wraps around its client, each only where the
// route asks for it (the common exchange goes straight to the client),
// innermost first: its rewrite (gateway/access_serve.hpp), its header
// rules (gateway/edge.hpp), compression (gateway/compress.hpp: outside the
// header rules, so what it writes is edited as any response is; never for
// a page's fragment, the page is compressed as a whole), and with
// `intercept` the instances' errors replaced by the route's pages (then
// compressed as any response). Lives in one frame: they point at each other.
class Wrapped {
 public:
  Wrapped(Downstream& client, const RouteConfig& route, const Config& config, const ErrorPages& pages,
          bool fragment) {
    Downstream* down = &client;
    if (access::Rewritten::needed(route, config)) down = &edited_.emplace(*down, route, config);
    if (!route.headers.empty()) down = &ruled_.emplace(*down, route.headers);
    const auto* c = fragment ? nullptr : compress::config_for(route, config);
    if (c && route.kind != RouteConfig::Kind::redirect) down = &compressing_.emplace(*down, *c);
    if (route.error_pages && route.error_pages->intercept) down = &intercepted_.emplace(*down, pages);
    down_ = down;
  }
  Wrapped(const Wrapped&) = delete;
  Wrapped& operator=(const Wrapped&) = delete;

  Downstream& down() { return *down_; }
  // The rewrite, if the route has one.
  access::Rewritten* edited() { return edited_ ? &*edited_ : nullptr; }
  // The compressor a cache hit may take a stored variant from.
  compress::CompressDownstream* coder() { return compressing_ ? &*compressing_ : nullptr; }

 private:
  std::optional<access::Rewritten> edited_;
  std::optional<edge::RuleDownstream> ruled_;
  std::optional<compress::CompressDownstream> compressing_;
  std::optional<error_pages::InterceptDownstream> intercepted_;
  Downstream* down_ = nullptr;
};

// The answer's status class and cache status in the route's counters.
void count(RouteStats& stats, Downstream& down) {
  int status = down.status();
  if (status >= 100 && status < 600) stats.by_class[status / 100 - 1].inc();
  for (std::size_t i = 0; i < kCacheStatuses; ++i)
    if (down.info().cache == kCacheStatusNames[i]) stats.cache[i].inc();
}

}  // namespace

boost::asio::awaitable<void> serve_route(Downstream& client, const Router::Match& match, WorkerState& state,
                                         Worker& worker, ChainPtr chain) {
  const auto& route = *match.route;
  const Config& config = *state.runtime->config;
  auto& stats = *state.route_stats[match.index];
  client.info().route = route.name;
  // The route's error pages (gateway/error_pages.hpp), first: every answer
  // of the gateway's own on this route gets them (a fragment's errors
  // belong to its page).
  const auto& pages = error_pages::for_route(route, config);
  bool go = true;
  if (!chain) {
    client.info().error_pages = &pages;
    // The client behind trusted proxies (gateway/edge.hpp; a fragment's
    // request has no X-Forwarded-For of its own).
    edge::resolve_client(client, config);
    // On clients' requests, not on a page's fragments (nginx's limit_req
    // and access modules skip subrequests), in nginx's order: the rate
    // limit (gateway/rate_limit.hpp), then the address and the credentials
    // (gateway/access_serve.hpp). Each answers its refusal itself.
    if (const auto& limiter = state.runtime->limiters[match.index]; limiter)
      go = co_await limit::admit(client, *limiter, stats);
    if (go && access::restricted(route, config)) go = co_await access::admit(client, route, config, stats);
  }
  Wrapped wrapped(client, route, config, pages, chain != nullptr);
  Downstream& down = wrapped.down();
  if (go && wrapped.edited() && wrapped.edited()->redirects()) {
    co_await wrapped.edited()->answer();
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
      else if (auto hit = cache_proxy::queue_memory_hit(down, match, state, wrapped.coder()))
        co_await down.write_body(*hit->body, true);  // the common hit, without the full path's coroutines
      else co_await cache_proxy::serve(down, match, state, worker, wrapped.coder());
      break;
  }
  count(stats, down);
}

}  // namespace gateway
