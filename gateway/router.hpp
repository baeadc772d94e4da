// Route selection: by host, then path. Pure and immutable after
// construction; shared by all workers through the Runtime.
//
// Order, as nginx: routes naming the request's host beat routes for any
// host; among those, a path pattern that matches wins over prefixes, and the
// longest matching prefix wins among prefixes. Routes for one scheme
// (`scheme: http` or `https`) come before all those for any: like nginx's
// server blocks, one per listener, a `scheme: http` route for "/" takes
// every plain request (the redirect to https), and routes for any scheme
// serve the rest.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gateway/config.hpp"

namespace gateway {

// Path parameters of a pattern route, e.g. {id} -> "42"; views into the path.
using PathParams = std::vector<std::pair<std::string_view, std::string_view>>;

class Router {
 public:
  explicit Router(const Config& config);

  struct Match {
    const RouteConfig* route = nullptr;
    std::size_t index = 0;  // into Config::routes
    PathParams params;
  };
  // A client's request: its Host field (port and case are ignored), its
  // path, and its scheme (req.tls).
  bool match(const http::Request& req, Match& out) const;
  // `host` is the Host header (port and case are ignored). Routes for one
  // scheme are left out: for the gateway's own requests (a page's
  // fragments, a purge), which no listener received.
  bool match(std::string_view host, std::string_view path, Match& out) const;

 private:
  struct Segment {
    std::string text;
    bool param;
  };
  struct Entry {
    const RouteConfig* route;
    std::size_t index;
    std::vector<std::string> hosts;  // lowercased; empty: any
    std::vector<Segment> pattern;    // for path routes
  };
  static bool match_pattern(const Entry& e, std::string_view path, PathParams& params);
  bool match_in(std::string_view host, bool host_specific, RouteConfig::Scheme scheme, std::string_view path,
                Match& out) const;

  std::vector<Entry> entries_;
};

// Expands {name} placeholders in `text` from params; unknown names stay.
std::string expand_params(std::string_view text, const PathParams& params);

}  // namespace gateway
