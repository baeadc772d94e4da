// The proxy path: one request to an upstream group and its response back,
// streamed both ways. Runs on the worker that owns the client connection,
// with that worker's pools and balancer.
//
// Fetch is the upstream half: rewrite the head (hop-by-hop and the route's
// strip_request_headers out, X-Forwarded-*, Via in) -> pick an instance
// (balancer, skipping unhealthy and tried ones) -> take a kept-alive
// connection or open one -> send -> read the response head, passing on
// interim (1xx) ones if asked; the body is then pulled piece by piece. Whether a
// failed attempt or a 502/503 answer moves on to another instance, and when
// a kept-alive connection found closed is sent again on a fresh one, is
// decided in upstreams/retry.hpp (should_retry, resend_on_fresh_connection).
//
// serve() relays a Fetch to a Downstream; the cache layer drives a Fetch
// itself to store what it relays, revalidate, or refresh in the background.
// A request that switches protocols (gateway/upgrade.hpp decides) goes on a
// fresh connection, and after the instance's 101 serve() hands both
// connections to the downstream's tunnel (gateway/tunnel.hpp); the upstream
// one is closed afterwards, never pooled.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "gateway/exchange.hpp"
#include "gateway/router.hpp"
#include "upstreams/client.hpp"

namespace gateway {

class Worker;
struct WorkerState;
struct RouteConfig;
struct UpstreamStats;

namespace proxy {

class Fetch {
 public:
  // `body_source` supplies the request body (null: the request has none, as
  // for a background refresh); `peer` is the client address.
  Fetch(const http::Request& req, std::string_view peer, Downstream* body_source, const RouteConfig& route,
        WorkerState& state, Worker& worker, RequestInfo& info);
  ~Fetch();
  Fetch(const Fetch&) = delete;
  Fetch& operator=(const Fetch&) = delete;

  // Interim (1xx) responses of the instance go on to `down` as they come,
  // before the final one, those forwards_interim allows; without this call
  // they are dropped. Before start().
  void forward_interim(Downstream& down);
  // The request asks to switch protocols and the route allows it
  // (gateway/upgrade.hpp): `fields` (Upgrade, Connection) go upstream with
  // it, on a fresh connection (a pooled one may have been kept by an
  // instance that closes upgraded ones differently; and this one will never
  // go back), and a 101 is a final answer. Before start().
  void upgrade(std::string fields);
  // Sends the request, with retries, until a response head arrives.
  // Returns ok, or the last failure (see failure_status()).
  boost::asio::awaitable<upstreams::Outcome> start();
  // After start() succeeded: the response, as received (not rewritten).
  http::Response& response() noexcept { return resp_; }
  // After a failure: 502, 503 (nothing usable) or 504.
  int failure_status() const noexcept { return failure_status_; }
  // Reading the client's body failed: the client left (body_status() 0) or
  // sent a body to refuse with body_status() (400, 413, 408).
  bool client_gone() const noexcept { return client_gone_; }
  int body_status() const noexcept { return body_status_; }

  // The next run of body bytes (valid until the next call); `done` with the
  // last one. A failure here is recorded against the instance.
  boost::asio::awaitable<upstreams::Outcome> read_body(std::span<const char>& piece, bool& done);
  // Ends the exchange, whatever happened: waits for a request body still
  // being sent, then returns the connection to the pool if the response was
  // read completely and it may be reused, else closes it. Every Fetch that
  // was started must be finished.
  boost::asio::awaitable<void> finish();
  // After a 101: the upstream connection, to tunnel through (finish()
  // closes it afterwards; it never returns to the pool).
  upstreams::Connection& connection();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
  http::Response resp_;
  int failure_status_ = 502;
  bool client_gone_ = false;
  int body_status_ = 0;
};

// Whether an interim (1xx) response of an instance goes on to the client
// (RFC 9110 15.2: a proxy forwards 1xx responses, but those it asked for
// itself, and a server sends none to an HTTP/1.0 client):
//   HTTP/1.0 client   never
//   100 Continue      never: the gateway answers Expect itself (its own 100
//                     goes out when the body is first read) and sends no
//                     Expect upstream, so an instance's 100 is about the
//                     gateway's request, not the client's
//   101               never: it is a final answer when the request asked
//                     to upgrade (a tunnel follows), refused otherwise
//   102, 103, other   forwarded
bool forwards_interim(int status, int client_version_minor) noexcept;

// Answers a refused request body (400, 413, 408); nothing if status is 0.
boost::asio::awaitable<void> respond_body_error(Downstream& down, int status);

// Relays a started Fetch to the downstream: rewritten head, then the body.
// Upstream failure mid-body aborts the downstream (the client sees a
// truncated response, never a wrong one).
// `extra_fields` ("Name: value\r\n" lines) are added to the head.
boost::asio::awaitable<void> relay(Fetch& fetch, Downstream& down, std::string_view extra_fields = {});

// Adds "Name: value\r\n" lines to a header map.
void add_fields(http::HeaderMap& headers, std::string_view fields);

// Answers a failed Fetch: 502/503/504 with a short body (or an abort if a
// head was already sent), with an error-log line naming route and instance.
boost::asio::awaitable<void> respond_failure(Downstream& down, const RouteConfig& route, int status,
                                             std::string_view what);

// The whole proxy path, for plain routes and for what a cached route passes
// through: Fetch, then relay or respond_failure. `extra_fields` ("Name:
// value\r\n" lines) are added to the response head; `on_response`, if set,
// sees the instance's response head before it is relayed.
struct PassOptions {
  std::string_view extra_fields;
  std::function<void(const http::Response&)> on_response;
};
boost::asio::awaitable<void> serve(Downstream& down, const RouteConfig& route, WorkerState& state, Worker& worker,
                                   const PassOptions& options = {});

// The request head sent upstream, appended to `out`. Pure, for tests.
// `peer` is the client address for X-Forwarded-For. Hop-by-hop fields,
// Expect (the gateway answers it) and the route's strip_request_headers
// are left out; X-Forwarded-For and Via continue the client's unless the
// route strips them; X-Forwarded-Proto and -Host are the gateway's own.
void build_upstream_head(const http::Request& req, const RouteConfig& route, std::string_view peer, std::string& out,
                         std::string_view extra_fields = {});

// Rewrites an upstream response head for the client, in place.
void rewrite_response_head(http::Response& resp);

}  // namespace proxy
}  // namespace gateway
