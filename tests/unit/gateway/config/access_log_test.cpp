// Tests for `access_log` (gateway/config/server.cpp): the scalar form
// (stdout, off, a file: combined lines) and the map form {path, format}.
#include <doctest/doctest.h>

#include "config_check.hpp"
#include "gateway/config.hpp"

#include <initializer_list>

using namespace gateway;
using namespace gateway::config::testing;

namespace {

constexpr ErrorCase kAccessLogErrors[] = {
    {"an unknown format", R"(access_log: {path: /var/log/gw.log, format: xml}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 1, 45, "access_log.format: unknown value \"xml\" (expected one of: combined, json)"},

    {"a map without a path", R"(access_log: {format: json}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 1, 13, "access_log: missing required key \"path\""},

    {"an unknown key", R"(access_log: {path: stdout, buffer: 64k}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 1, 28, "unknown key \"buffer\""},

    {"an empty path", R"(access_log: {path: "", format: json}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 1, 20, "access_log.path: must not be empty"},

    {"a list", R"(access_log: [stdout]
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 1, 13, "access_log: expected"},
};

}  // namespace

// `access_log: VALUE` in a file at /etc/gateway/gw.yaml gives this target
// and format.
struct AccessLogRow {
  const char* value;
  const char* target;
  AccessLogFormat format;
};

static void check_rows(std::initializer_list<AccessLogRow> rows) {
  for (const auto& row : rows) {
    CAPTURE(row.value);
    auto config = load_ok(std::string("access_log: ") + row.value + R"(
upstreams: {app: {instances: ["127.0.0.1:1"]}}
routes: [{prefix: /, upstream: app}]
)");
    CHECK(config->access_log == row.target);
    CHECK(config->access_log_format == row.format);
  }
}

TEST_CASE("config access_log: the scalar forms write combined lines") {
  check_rows({{"stdout", "stdout", AccessLogFormat::combined},
              {"\"off\"", "off", AccessLogFormat::combined},
              {"logs/access.log", "/etc/gateway/logs/access.log", AccessLogFormat::combined}});
}

TEST_CASE("config access_log: the map form names the path and the format") {
  check_rows({
      {"{path: /var/log/gateway/access.log, format: json}", "/var/log/gateway/access.log", AccessLogFormat::json},
      {"{path: stdout, format: json}", "stdout", AccessLogFormat::json},
      {"{path: \"off\", format: json}", "off", AccessLogFormat::json},
      {"{path: access.log}", "/etc/gateway/access.log", AccessLogFormat::combined},
      {"{path: access.log, format: combined}", "/etc/gateway/access.log", AccessLogFormat::combined},
  });
}

TEST_CASE("config access_log: each mistake in the map form at the node at fault") {
  check_errors(kAccessLogErrors);
}
