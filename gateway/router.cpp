#include "gateway/router.hpp"

#include <algorithm>

#include "base/http/message.hpp"

namespace gateway {

namespace {
using http::lowercase;

// "Example.com:8080" -> "example.com"; "[::1]:80" -> "[::1]".
std::string_view host_only(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    auto close = host.find(']');
    return close == std::string_view::npos ? host : host.substr(0, close + 1);
  }
  return host.substr(0, host.find(':'));
}
}  // namespace

Router::Router(const Config& config) {
  for (std::size_t i = 0; i < config.routes.size(); ++i) {
    const auto& r = config.routes[i];
    Entry e{&r, i, {}, {}};
    for (const auto& h : r.hosts) e.hosts.push_back(lowercase(host_only(h)));
    if (!r.path.empty()) {
      std::string_view p = r.path;
      p.remove_prefix(1);
      while (true) {
        auto slash = p.find('/');
        auto seg = p.substr(0, slash);
        bool param = seg.size() >= 2 && seg.front() == '{' && seg.back() == '}';
        e.pattern.push_back({std::string(param ? seg.substr(1, seg.size() - 2) : seg), param});
        if (slash == std::string_view::npos) break;
        p.remove_prefix(slash + 1);
      }
    }
    entries_.push_back(std::move(e));
  }
}

bool Router::match_pattern(const Entry& e, std::string_view path, PathParams& params) {
  if (path.empty() || path.front() != '/') return false;
  path.remove_prefix(1);
  params.clear();
  for (std::size_t k = 0; k < e.pattern.size(); ++k) {
    auto slash = path.find('/');
    auto seg = path.substr(0, slash);
    const auto& s = e.pattern[k];
    if (s.param) {
      if (seg.empty()) return false;
      params.emplace_back(s.text, seg);
    } else if (seg != s.text) {
      return false;
    }
    bool last = k + 1 == e.pattern.size();
    if (last != (slash == std::string_view::npos)) return false;
    if (!last) path.remove_prefix(slash + 1);
  }
  return true;
}

bool Router::match_in(std::string_view host, bool host_specific, RouteConfig::Scheme scheme, std::string_view path,
                      Match& out) const {
  const Entry* best = nullptr;
  for (const auto& e : entries_) {
    if (e.route->scheme != scheme) continue;
    if (host_specific) {
      if (e.hosts.empty()) continue;
      bool hit = false;
      for (const auto& h : e.hosts) hit = hit || http::iequals(h, host);
      if (!hit) continue;
    } else if (!e.hosts.empty()) {
      continue;
    }
    if (!e.route->path.empty()) {
      if (match_pattern(e, path, out.params)) {
        out.route = e.route;
        out.index = e.index;
        return true;
      }
      continue;
    }
    const auto& prefix = e.route->prefix;
    if (path.size() >= prefix.size() && path.compare(0, prefix.size(), prefix) == 0 &&
        (!best || prefix.size() > best->route->prefix.size()))
      best = &e;
  }
  if (!best) return false;
  out.route = best->route;
  out.index = best->index;
  out.params.clear();
  return true;
}

bool Router::match(std::string_view host, std::string_view path, Match& out) const {
  auto h = host_only(host);
  constexpr auto any = RouteConfig::Scheme::any;
  return match_in(h, true, any, path, out) || match_in(h, false, any, path, out);
}

bool Router::match(const http::Request& req, Match& out) const {
  auto h = host_only(req.headers.get("Host").value_or(""));
  auto scheme = req.tls ? RouteConfig::Scheme::https : RouteConfig::Scheme::http;
  auto path = req.path();
  return match_in(h, true, scheme, path, out) || match_in(h, false, scheme, path, out) || match(h, path, out);
}

std::string expand_params(std::string_view text, const PathParams& params) {
  std::string out;
  out.reserve(text.size());
  while (!text.empty()) {
    auto open = text.find('{');
    auto close = open == std::string_view::npos ? open : text.find('}', open);
    if (close == std::string_view::npos) {
      out.append(text);
      break;
    }
    out.append(text.substr(0, open));
    auto name = text.substr(open + 1, close - open - 1);
    auto it = std::find_if(params.begin(), params.end(), [&](const auto& p) { return p.first == name; });
    if (it != params.end()) out.append(it->second);
    else out.append(text.substr(open, close - open + 1));
    text.remove_prefix(close + 1);
  }
  return out;
}

}  // namespace gateway
