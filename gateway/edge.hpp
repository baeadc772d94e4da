// The edge rules applied to an exchange (the pure decisions are in
// gateway/edge_rules.hpp): the route's header rules, through a Downstream
// that wraps the client's, the client address behind trusted proxies, and
// the answer of a `redirect:` route. serve_route (gateway/dispatch.cpp)
// calls these for every exchange, whatever connection it came on (HTTP/1.1
// or an HTTP/2 stream), so every response of a route is edited the same
// way: proxied, from the cache (a stored head is edited as text),
// composed, or the gateway's own (a 502, a 504).
//
// Runs on the worker that owns the exchange.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <optional>
#include <string>

#include "gateway/config.hpp"
#include "gateway/exchange.hpp"
#include "gateway/forwarding_downstream.hpp"

namespace gateway::edge {

// The variables of `down`'s request ($scheme, $host, $request_uri,
// $remote_addr); views into it.
Variables variables(Downstream& down);

// Sets down.info().client from X-Forwarded-For when the connection's peer
// is a trusted proxy (client_address); the access log then names it.
void resolve_client(Downstream& down, const Config& config);

// A Downstream with a route's header rules: the request its handlers see
// is the client's with the request edits made (so what goes upstream, and
// what the cache keys and varies on, is the same), and every response head
// written through it gets the response edits. Everything else goes to the
// inner Downstream. Lives as long as the exchange's handler.
class RuleDownstream final : public ForwardingDownstream {
 public:
  RuleDownstream(Downstream& inner, const HeaderRules& rules);

  const http::Request& request() const override { return request_ ? *request_ : inner_.request(); }
  void write_head(http::Response& resp) override;
  void write_head_raw(int status, std::string_view head, std::string_view extra_fields,
                      std::uint64_t content_length) override;

 private:
  const HeaderRules& rules_;
  std::optional<http::Request> request_;  // with the request edits, if any
  std::string head_;                      // a stored head, edited
};

// Answers a `redirect:` route: its status and a Location built from `to`
// (redirect_location); 400 if `to` needs a Host the request lacks.
boost::asio::awaitable<void> serve_redirect(Downstream& down, const RouteConfig& route);

}  // namespace gateway::edge
