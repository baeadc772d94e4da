// Route selection: by host, then path. Pure and immutable after
// construction; shared by all workers through the Runtime.
//
// Order, as nginx: routes naming the request's host beat routes for any
// host; among those, a path pattern that matches wins over prefixes, and the
// longest matching prefix wins among prefixes.
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
  // `host` is the Host header (port and case are ignored).
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
  bool match_in(std::string_view host, bool host_specific, std::string_view path, Match& out) const;

  std::vector<Entry> entries_;
};

// Expands {name} placeholders in `text` from params; unknown names stay.
std::string expand_params(std::string_view text, const PathParams& params);

}  // namespace gateway
