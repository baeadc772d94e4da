// Composition: page routes (an HTML template whose includes are fetched in
// parallel and stitched in template order, streaming) and aggregate routes
// (JSON parts fetched in parallel and merged under their keys).
//
// Every fragment goes through serve_route, so it is routed, balanced and
// cached by its own route with its own TTL. Runs on the worker of the
// client connection; fragments run there too, as coroutines of their own.
//
// A page's head waits only for its required and primary fragments; the
// rest of the page streams out as each next fragment is ready, so the first
// bytes leave before the slowest fragment answers. A fragment past its
// timeout gets its fallback; a failed required fragment fails the page
// (502, or 504 when it timed out). Each response carries Server-Timing with
// every fragment's time and cache status (a trailer for a streamed page).
#pragma once

#include <boost/asio/awaitable.hpp>

#include "gateway/dispatch.hpp"

namespace gateway::compose {

boost::asio::awaitable<void> serve_page(Downstream& down, const Router::Match& match, WorkerState& state,
                                        Worker& worker, ChainPtr chain);

boost::asio::awaitable<void> serve_aggregate(Downstream& down, const Router::Match& match, WorkerState& state,
                                             Worker& worker, ChainPtr chain);

}  // namespace gateway::compose
