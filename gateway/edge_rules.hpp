// The edge's per-request rules, as pure functions: a route's header rules
// (`headers:`, nginx's proxy_set_header / add_header always /
// proxy_hide_header, Envoy's request_headers_to_add/remove), the Location
// of a `redirect:` route, and the client address behind trusted proxies
// (`trusted_proxies:`, nginx's set_real_ip_from + real_ip_header
// X-Forwarded-For + real_ip_recursive on). The types are the
// configuration's (gateway/config.hpp holds them in RouteConfig and
// Config); gateway/edge.hpp applies them to an exchange.
//
// No thread affinity.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/http/message.hpp"
#include "base/net/cidr.hpp"

namespace gateway::edge {

// One direction's edits, applied in this order: `remove` drops every field
// of those names, `set` replaces every field of its name by one, `add`
// appends a field after those already there. Names as written, compared
// without case.
struct HeaderEdits {
  std::vector<std::pair<std::string, std::string>> set;
  std::vector<std::pair<std::string, std::string>> add;
  std::vector<std::string> remove;
  bool empty() const noexcept { return set.empty() && add.empty() && remove.empty(); }
};

// A route's `headers: {request: {set, remove}, response: {add, set, remove}}`.
// Request edits change what is sent upstream (their values may use the
// variables below); response edits change every response of the route the
// client gets: proxied, from the cache, composed, or the gateway's own
// errors.
struct HeaderRules {
  HeaderEdits request;
  HeaderEdits response;
  bool empty() const noexcept { return request.empty() && response.empty(); }
};

// A route's `redirect: {to, status}`.
struct RedirectConfig {
  std::string to;    // may use the variables below
  int status = 301;  // 301, 302, 303, 307 or 308
};

// What a value may name: $scheme ("http" or "https"), $host (the Host
// field without its port, lowercased: nginx's $host), $http_host (the Host
// field as sent), $request_uri (the request target, path and query) and
// $remote_addr (the client's address, after trusted_proxies). "$$" is a
// '$'.
struct Variables {
  std::string_view scheme;
  std::string_view host;  // the Host field as sent; may be empty
  std::string_view request_uri;
  std::string_view remote_addr;
};

// What is wrong with a value's variables (an unknown name, a lone '$'),
// or nothing. For the configuration loader.
std::optional<std::string> check_variables(std::string_view text);
// `text` with its variables replaced. Bytes of a value that cannot be in a
// header field (controls, spaces, non-ASCII) are percent-encoded, so a
// value never splits a field or a Location.
std::string expand(std::string_view text, const Variables& vars);
// Whether `text` names $host (it needs a usable Host field).
bool uses_host(std::string_view text) noexcept;

// Fields the configuration refuses to edit, and why; nothing if `name` may
// be edited. Request: the framing (Content-Length, Transfer-Encoding),
// hop-by-hop fields (Connection, Keep-Alive, TE, Upgrade, ...) and those the
// gateway writes itself (X-Forwarded-For, -Proto, -Host, Via). Response:
// the framing, hop-by-hop fields, and Host (a request field).
std::optional<std::string> refused_request_field(std::string_view name);
std::optional<std::string> refused_response_field(std::string_view name);

// Applies `edits` to `headers`; `vars`, if given, expands the values.
void apply(const HeaderEdits& edits, http::HeaderMap& headers, const Variables* vars = nullptr);
// The same on serialized fields ("Name: value\r\n" lines, as a stored
// response keeps its head): returns `fields` edited. A first line without
// a colon (a status line) is kept as it is.
std::string apply_to_fields(const HeaderEdits& edits, std::string_view fields);

// The Location of a redirect: `to` expanded. Nullopt when `to` names $host
// and the request's Host is absent or not a valid host (RFC 9112 3.2): no
// redirect may point anywhere a client chose. A result that would start
// with "//" from a variable (a target "//evil.example/") keeps one '/', so
// it cannot become a link to another host.
std::optional<std::string> redirect_location(std::string_view to, const Variables& vars);

// The client's address behind proxies (nginx's realip with
// real_ip_recursive on): if `peer` is in `trusted`, X-Forwarded-For's
// addresses (`forwarded_for`, all fields joined) are walked from the right,
// skipping trusted ones; the first untrusted one is the client. If all
// are trusted, the leftmost is. An element that is no address stops the
// walk: the last trusted address seen is the client (a proxy's claim that
// cannot be checked is not taken). An untrusted peer is the client,
// whatever its X-Forwarded-For says.
std::string client_address(std::string_view peer, std::string_view forwarded_for, std::span<const net::Cidr> trusted);

}  // namespace gateway::edge
