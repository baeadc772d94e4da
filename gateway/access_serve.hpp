// The request-path hooks of access control and rewrites (the decisions are
// in gateway/access.hpp and gateway/rewrite.hpp):
//   - serve_request (gateway/connection.cpp) wraps the client's exchange in
//     a Rewritten built from the top-level `rewrite:` before routing, and
//     lets it answer a redirect rule;
//   - serve_route (gateway/dispatch.cpp) asks admit() once the client
//     address is the real one (edge::resolve_client), then wraps the
//     exchange in a Rewritten built from the route: its `rewrite:` and,
//     where the route authenticates, the Authorization field stripped (it
//     was for the gateway) unless `auth.forward`;
//   - the admin listener asks admit_admin() first.
// Runs on the worker that owns the exchange.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <optional>
#include <span>
#include <string>

#include "gateway/config.hpp"
#include "gateway/exchange.hpp"
#include "gateway/forwarding_downstream.hpp"

namespace gateway {

struct RouteStats;

namespace access {

// Whether the route lets the client in (the route's `access:` and `auth:`,
// else the top level's). If not, answers 403 (address) or 401 with
// WWW-Authenticate (credentials), counts it in `stats`, and returns false.
boost::asio::awaitable<bool> admit(Downstream& client, const RouteConfig& route, const Config& config,
                                   RouteStats& stats);
// Whether the route has an `access:` or `auth:` of its own or by default:
// if not, admit() would let everyone in (and need not be asked).
bool restricted(const RouteConfig& route, const Config& config);
// The admin listener's `auth:`.
boost::asio::awaitable<bool> admit_admin(Downstream& client, const AdminConfig& admin);
// Ends the threads that check credentials: after the workers' loops have
// stopped, before the workers go (a check holds a request of theirs).
void end_crypt_threads();

// A Downstream whose request is the client's with its target rewritten (or
// Authorization dropped): handlers, the cache and the instance see that
// one; the access log keeps the client's own. When nothing changes, it
// forwards the client's request as is (no copy).
class Rewritten final : public ForwardingDownstream {
 public:
  // The top-level rules, before routing.
  Rewritten(Downstream& inner, std::span<const rewrite::Rule> rules);
  // A route's rules, and its authentication's Authorization field.
  Rewritten(Downstream& inner, const RouteConfig& route, const Config& config);

  // Whether the route's exchange needs one: it has a `rewrite:`, or it
  // authenticates and does not forward Authorization.
  static bool needed(const RouteConfig& route, const Config& config);

  // A redirect rule matched: answer() sends it (its status and Location).
  bool redirects() const noexcept { return redirect_ != 0; }
  boost::asio::awaitable<void> answer();

  const http::Request& request() const override { return request_ ? *request_ : inner_.request(); }

 private:
  void rewrite(std::span<const rewrite::Rule> rules);

  std::optional<http::Request> request_;  // the edited request, if anything changed
  std::string location_;                  // a redirect rule's target
  int redirect_ = 0;
};

}  // namespace access
}  // namespace gateway
