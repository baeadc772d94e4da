// Helpers shared by the proxy path's end-to-end tests
// (tests/integration/proxy_*_test.cpp): a route sending everything to one
// upstream, and the sample-service path of a channel.
#pragma once

#include <string>
#include <string_view>

namespace itest::proxy_test {

inline std::string route_all(std::string_view upstream = "app") {
  return "routes:\n  - {prefix: /, upstream: " + std::string(upstream) + "}\n";
}

inline std::string channel_path(int id) { return "/api/channels/" + std::to_string(id); }

}  // namespace itest::proxy_test
