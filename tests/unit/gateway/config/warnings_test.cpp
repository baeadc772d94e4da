// Configuration warnings: keys that load but cannot change while the
// gateway runs (`--check` prints them as FILE:LINE:COLUMN: warning: ...; a
// reload logs them). Today: a listen or admin.listen host name, resolved
// once when the listener is first bound.
#include <doctest/doctest.h>

#include <string>

#include "gateway/config.hpp"

using namespace gateway;

namespace {
constexpr const char* kRest = "upstreams: {app: {instances: [\"127.0.0.1:9001\"]}}\nroutes: [{prefix: /, upstream: app}]\n";
}

TEST_CASE("config warnings: a listen host name warns at its position, an address does not") {
  struct Row {
    const char* name;
    std::string yaml;
    int line, column;  // 0: no warning
    const char* message;
  };
  const Row rows[] = {
      {"IPv4 listen", std::string("listen: [\"127.0.0.1:8080\"]\n") + kRest, 0, 0, ""},
      {"IPv6 listen", std::string("listen: [\"[::1]:8080\"]\n") + kRest, 0, 0, ""},
      {"host name listen", std::string("listen: [\"127.0.0.1:8080\", \"localhost:8081\"]\n") + kRest, 1, 28,
       "warning: listen[1]: host name \"localhost\" is resolved when the listener is first bound"},
      {"host name in a listen map", std::string("listen: [{address: \"localhost:8081\"}]\n") + kRest, 1, 20,
       "warning: listen[0].address: host name \"localhost\""},
      {"host name admin", std::string("admin:\n  listen: \"localhost:9000\"\n") + kRest, 2, 11,
       "warning: admin.listen: host name \"localhost\""},
  };
  for (const auto& r : rows) {
    CAPTURE(r.name);
    auto loaded = load_config_from_string(r.yaml, "/etc/gateway.yaml");
    REQUIRE(loaded.errors.empty());
    REQUIRE(loaded.config);
    if (r.line == 0) {
      CHECK(loaded.warnings.empty());
      continue;
    }
    REQUIRE(loaded.warnings.size() == 1);
    const auto& w = loaded.warnings[0];
    CHECK(w.line == r.line);
    CHECK(w.column == r.column);
    CAPTURE(w.message);
    CHECK(w.message.rfind(r.message, 0) == 0);
    CHECK(w.to_string().rfind("/etc/gateway.yaml:" + std::to_string(r.line) + ":" + std::to_string(r.column) +
                                  ": warning: ",
                              0) == 0);
  }
}
