// Protocol upgrades over HTTP/1.1 (RFC 9110 7.8, 15.2.2; WebSocket's
// opening handshake, RFC 6455 4): whether a request may switch protocols
// through the gateway, what goes upstream for it, and whether the
// instance's 101 may be relayed. Pure functions, for tests; the proxy
// (proxy.cpp) acts on them and gateway/tunnel.hpp carries the bytes after.
//
// A route allows upgrades by naming protocols (`upgrade: [websocket]`, as
// Envoy's upgrade_configs). On any other route the Upgrade field is dropped
// like every hop-by-hop field and the request is an ordinary one (nginx
// does the same where proxy_set_header Upgrade is not configured). Only an
// HTTP/1.1 client connection can become a tunnel: a page's fragment or an
// HTTP/2 stream cannot (no RFC 8441 extended CONNECT here), so for them the
// request is ordinary too.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "base/http/message.hpp"

namespace gateway {

struct UpgradeDecision {
  bool tunnel = false;  // forward the upgrade; a 101 makes a tunnel
  // The protocols the client offered that the route allows, in the
  // client's order ("websocket"), and the fields that carry them upstream
  // ("Upgrade: websocket\r\nConnection: upgrade\r\n").
  std::string protocols;
  std::string fields;
  // Why not, for tests and debug logs ("" when tunnel).
  std::string_view why_not;
};

// Whether `req` switches protocols through the gateway. `allowed`: the
// route's protocol names, lowercase; `can_tunnel`: the downstream is an
// HTTP/1.1 client connection. A request upgrades when all hold:
//   the route allows some protocol       (else: ordinary request)
//   the client connection can tunnel
//   HTTP/1.1                              (RFC 9110 7.8: a server ignores
//                                          Upgrade in an HTTP/1.0 request)
//   Connection lists "upgrade"            (RFC 9110 7.8: the sender must)
//   no request body                       (the tunnel starts right after the
//                                          head; WebSocket's GET has none)
//   an offered protocol is allowed        (compared without case, by name:
//                                          "websocket/13" is "websocket")
UpgradeDecision decide_upgrade(const http::Request& req, std::span<const std::string> allowed, bool can_tunnel);

// Whether an instance's 101 may go on to the client: its Upgrade names
// protocols the request offered upstream (`offered`: the Upgrade value
// sent), RFC 9110 15.2.2. A 101 naming none, or another, is a bad answer
// (502): the client would speak a protocol it did not ask for.
bool accepts_switch(const http::Response& resp, std::string_view offered);

// The instance's 101 rewritten for the client, in place: hop-by-hop fields
// out, as for any response, then Upgrade (the instance's) and
// "Connection: upgrade" back in, which the client needs to see the switch.
void rewrite_switch_head(http::Response& resp);

// The protocol name of an Upgrade list element: "websocket/13" ->
// "websocket".
std::string_view protocol_name(std::string_view product) noexcept;

}  // namespace gateway
