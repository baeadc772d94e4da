#include "gateway/upgrade.hpp"

#include <algorithm>

#include "gateway/proxy.hpp"

namespace gateway {

std::string_view protocol_name(std::string_view product) noexcept {
  return product.substr(0, product.find('/'));
}

UpgradeDecision decide_upgrade(const http::Request& req, std::span<const std::string> allowed, bool can_tunnel) {
  UpgradeDecision d;
  if (allowed.empty()) {  // most routes: decided without looking at the request
    d.why_not = "route allows no upgrade";
    return d;
  }
  auto offered = req.headers.get_all("Upgrade");
  if (offered.empty()) d.why_not = "no Upgrade field";
  else if (!can_tunnel) d.why_not = "client connection cannot tunnel";
  else if (req.version_minor < 1) d.why_not = "HTTP/1.0";
  else if (!http::has_token(req.headers.get_all("Connection"), "upgrade")) d.why_not = "Connection lacks upgrade";
  else if (req.has_body()) d.why_not = "request has a body";
  if (!d.why_not.empty()) return d;

  std::string& protocols = d.protocols;
  http::for_each_token(offered, [&](std::string_view product) {
    auto name = protocol_name(product);
    bool ok = std::any_of(allowed.begin(), allowed.end(), [&](const std::string& a) { return http::iequals(a, name); });
    if (!ok) return;
    if (!protocols.empty()) protocols.append(", ");
    protocols.append(product);
  });
  if (protocols.empty()) {
    d.why_not = "no offered protocol allowed";
    return d;
  }
  d.tunnel = true;
  d.fields.append("Upgrade: ").append(protocols).append("\r\nConnection: upgrade\r\n");
  return d;
}

bool accepts_switch(const http::Response& resp, std::string_view offered) {
  auto chosen = resp.headers.get_all("Upgrade");
  bool any = false, all_offered = true;
  http::for_each_token(chosen, [&](std::string_view product) {
    any = true;
    bool found = false;
    http::for_each_token(offered, [&](std::string_view o) { found = found || http::iequals(o, product) ||
                                                                      http::iequals(protocol_name(o), product); });
    all_offered = all_offered && found;
  });
  return any && all_offered;
}

void rewrite_switch_head(http::Response& resp) {
  std::string upgrade = resp.headers.get_all("Upgrade");
  proxy::rewrite_response_head(resp);
  resp.headers.set("Upgrade", upgrade);
  resp.headers.set("Connection", "upgrade");
}

}  // namespace gateway
