// The proxy path with a cache in front: a route with `cache:`.
//
// Runs on the worker of the client connection. Per request:
//   fresh hit            -> served from the store (RAM tier or sendfile), X-Cache: HIT
//   stale, within stale-while-revalidate
//                        -> served stale, one background refresh (STALE, then UPDATING)
//   stale, to revalidate -> conditional request; 304 refreshes the entry (REVALIDATED),
//                           a new 200 replaces it (EXPIRED), an error may serve it stale (STALE)
//   miss                 -> one fill per key: the first request leads it, the others
//                           follow it and stream from the entry's file as it is written
//                           (MISS); the leader asks the fleet's shared tier first, if the
//                           zone has one (HIT), and takes the fleet's fill lock
//   unsafe method        -> passed through (BYPASS); success invalidates the URL
//   GET with a body      -> passed through, body and all (BYPASS; cache::request_use)
//   Range on a GET       -> a 206 (one range, or multipart/byteranges) or 416 from
//                           the entry; a miss fills the whole object (cache_ranges.hpp)
//   only-if-cached       -> what is stored and usable, else a 504; never the upstream
// Every response says what happened in X-Cache and Cache-Status (RFC 9211).
//
// What is decided lives in cache/: the tier order and its single flights in
// cache/tiered_lookup.hpp, every HTTP decision in cache/policy.hpp; this is
// the glue that does the client's side of it.
#pragma once

#include <boost/asio/awaitable.hpp>

#include "cache/entry.hpp"
#include "gateway/exchange.hpp"
#include "gateway/router.hpp"

namespace gateway {

namespace compress {
class CompressDownstream;
}
class Worker;
struct WorkerState;

namespace cache_proxy {

// `compressing`: `down` itself when it compresses (gateway/compress.hpp);
// then a hit is served from the entry's compressed variant
// (gateway/compress_variant.hpp) rather than compressed as it streams.
boost::asio::awaitable<void> serve(Downstream& down, const Router::Match& match, WorkerState& state, Worker& worker,
                                   compress::CompressDownstream* compressing = nullptr);

// A fresh entry with its body in the RAM tier for a plain GET on a cached
// route, found without a coroutine (and counted as a HIT); null otherwise.
// For fragments of composed pages, whose hits are most of their cost.
std::shared_ptr<const cache::Entry> fresh_memory_hit(const http::Request& req, const Router::Match& match,
                                                     WorkerState& state);

// A client's request answered as serve() would answer it, without its
// coroutines: a fresh entry of the RAM tier for a plain GET
// (cache::fast_client_hit_request). Counts the HIT (the route's counters
// are serve_route's), queues the head on `down` and returns the entry,
// whose body the caller sends: co_await down.write_body(*e->body, true).
// Null: no such hit; nothing was done and serve() takes the request.
// With `compressing` (as serve()'s), the entry may be the compressed
// variant of the one hit.
std::shared_ptr<const cache::Entry> queue_memory_hit(Downstream& down, const Router::Match& match, WorkerState& state,
                                                     compress::CompressDownstream* compressing = nullptr);

}  // namespace cache_proxy
}  // namespace gateway
