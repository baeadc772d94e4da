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
class RuleDownstream final : public Downstream {
 public:
  RuleDownstream(Downstream& inner, const HeaderRules& rules);

  const http::Request& request() const override { return request_ ? *request_ : inner_.request(); }
  std::string_view peer() const override { return inner_.peer(); }
  RequestInfo& info() override { return inner_.info(); }
  boost::asio::awaitable<boost::system::error_code> read_body(std::span<const char>& piece, bool& done) override {
    return inner_.read_body(piece, done);
  }
  bool body_complete() const override { return inner_.body_complete(); }
  int body_error_status() const override { return inner_.body_error_status(); }
  boost::asio::awaitable<boost::system::error_code> write_interim(const http::Response& interim) override {
    return inner_.write_interim(interim);
  }
  void write_head(http::Response& resp) override;
  void write_head_raw(int status, std::string_view head, std::string_view extra_fields,
                      std::uint64_t content_length) override;
  boost::asio::awaitable<boost::system::error_code> write_file(int fd, std::uint64_t offset, std::uint64_t len,
                                                               bool last) override {
    return inner_.write_file(fd, offset, len, last);
  }
  boost::asio::awaitable<boost::system::error_code> write_body(std::span<const char> data, bool last) override {
    return inner_.write_body(data, last);
  }
  bool head_written() const override { return inner_.head_written(); }
  int status() const override { return inner_.status(); }
  void set_trailer(std::string_view fields) override { inner_.set_trailer(fields); }
  void abort() override { inner_.abort(); }

 private:
  Downstream& inner_;
  const HeaderRules& rules_;
  std::optional<http::Request> request_;  // with the request edits, if any
  std::string head_;                      // a stored head, edited
};

// Answers a `redirect:` route: its status and a Location built from `to`
// (redirect_location); 400 if `to` needs a Host the request lacks.
boost::asio::awaitable<void> serve_redirect(Downstream& down, const RouteConfig& route);

}  // namespace gateway::edge
