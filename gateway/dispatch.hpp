// Serving a request once its route is known: the one place that turns a
// route's kind into a handler (proxy, cached proxy, page, aggregate,
// redirect), applies the edge rules every exchange goes through (the
// client behind trusted proxies, the route's header rules:
// gateway/edge.hpp) and counts the answer in the route's metrics. Client
// connections (HTTP/1.1, and HTTP/2 streams) call it, and so does the
// composer for each fragment, so fragments are routed, balanced and cached
// like any request.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <memory>
#include <string>
#include <string_view>

#include "gateway/exchange.hpp"
#include "gateway/router.hpp"

namespace gateway {

class Worker;
struct WorkerState;

// The composition a request is part of: the URLs of the pages that include
// it, innermost first, for the depth limit and loop detection. Null for a
// client's own request.
// Shared: a fragment that misses its deadline finishes after its page.
struct ComposeChain {
  std::shared_ptr<const ComposeChain> parent;
  std::string url;
  int depth = 0;
  bool contains(std::string_view u) const {
    for (const auto* c = this; c; c = c->parent.get())
      if (c->url == u) return true;
    return false;
  }
};
using ChainPtr = std::shared_ptr<const ComposeChain>;

boost::asio::awaitable<void> serve_route(Downstream& down, const Router::Match& match, WorkerState& state,
                                         Worker& worker, ChainPtr chain = nullptr);

}  // namespace gateway
