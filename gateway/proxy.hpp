// The proxy handler: one request to an upstream group and its response back,
// streamed both ways. Runs on the worker that owns the client connection,
// with that worker's pools and balancer.
//
// Pipeline: rewrite the head (hop-by-hop out, X-Forwarded-*, Via in) ->
// pick an instance (balancer, skipping unhealthy and tried ones) -> take a
// kept-alive connection or open one -> send -> read the response head ->
// relay head and body. Idempotent requests move to another instance on
// connect failure, on a connection lost before any response byte, or on a
// 502/503 answer, up to `retries` times; a reused connection found closed is
// retried once on a fresh one to the same instance.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <string>

#include "gateway/exchange.hpp"
#include "gateway/router.hpp"

namespace gateway {

class Worker;
struct WorkerState;
struct RouteConfig;

namespace proxy {

boost::asio::awaitable<void> serve(Downstream& down, const Router::Match& match, WorkerState& state, Worker& worker);

// The request head sent upstream, appended to `out`. Pure, for tests.
// `peer` is the client address for X-Forwarded-For.
void build_upstream_head(const http::Request& req, const RouteConfig& route, std::string_view peer, std::string& out);

// Rewrites an upstream response head for the client, in place.
void rewrite_response_head(http::Response& resp);

}  // namespace proxy
}  // namespace gateway
