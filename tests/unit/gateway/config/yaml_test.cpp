// Tests for the configuration loader's YAML layer (gateway/config/yaml.hpp),
// through whole files: each kind of value mistake (a wrong type, an empty
// value, a bad integer, boolean, duration or size, a repeated key) gives one
// error at the node at fault, with the path of that node in the message. The
// sections' own rules are tested next to this file, one file per section.
#include "gateway/config.hpp"

#include <doctest/doctest.h>

#include "config_check.hpp"

using namespace gateway::config::testing;

namespace {

constexpr ErrorCase kTypeErrors[] = {
    {"a map where a list is expected", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  prefix: /
  upstream: app
)", 3, 3, "routes: expected a list, got a map"},

    {"a list where a map is expected", R"(limits: [16KiB]
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 1, 9, "limits: expected a map, got a list"},

    {"a string where an integer is expected", R"(upstreams:
  app:
    instances: ["127.0.0.1:9001"]
    retries: many
routes: [{prefix: /, upstream: app}]
)", 4, 14, "upstreams.app.retries: expected an integer, got \"many\""},

    {"an empty value", R"(upstreams:
  app:
    instances: ["127.0.0.1:9001"]
    keepalive:
routes: [{prefix: /, upstream: app}]
)", 4, 5, "expected an integer, got nothing"},

    {"an empty string", R"(access_log: ""
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 1, 13, "access_log: must not be empty"},
};

constexpr ErrorCase kValueErrors[] = {
    {"a bad boolean", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app, strip_prefix: yes}]
)", 2, 51, "expected true or false, got \"yes\""},

    {"a bad duration", R"(timeouts: {keepalive: 10x}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 1, 23, "timeouts.keepalive: invalid duration \"10x\""},

    {"a bad size", R"(limits:
  header_bytes: 16Kb
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 2, 17, "limits.header_bytes: invalid size \"16Kb\""},

    {"an integer too large for any type", R"(limits: {headers: 99999999999999999999999}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 1, 19, "out of range"},
};

constexpr ErrorCase kDuplicateKeyErrors[] = {
    {"a duplicate top-level key", R"(workers: 2
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
workers: 4
routes: [{prefix: /, upstream: app}]
)", 3, 1, "duplicate key \"workers\" (first at line 1)"},

    {"a duplicate key in a flow map", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app, prefix: /x}]
)", 2, 37, "duplicate key \"prefix\" in routes[0]"},
};

}  // namespace

TEST_CASE("config yaml: a value of the wrong type, or none, at the node at fault") {
  check_errors(kTypeErrors);
}

TEST_CASE("config yaml: a bad boolean, duration, size or integer, at the node at fault") {
  check_errors(kValueErrors);
}

TEST_CASE("config yaml: a key given twice, at the second one, naming the line of the first") {
  check_errors(kDuplicateKeyErrors);
}
