// Tests for access control and rewrites in the configuration
// (gateway/config/access.cpp, gateway/config/rewrite.cpp): `access:`,
// `auth:` and `rewrite:` at the top level and on routes, `admin.auth`, the
// htpasswd file read at load; each mistake at the node (or htpasswd line) at
// fault.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "config_check.hpp"
#include "gateway/config.hpp"

using namespace gateway;
using namespace gateway::config::testing;

namespace {

constexpr const char* kSha256 = "$5$saltsalt$0IyaXrmV7.sGNS6tirgqHLqX/G.FBvgkYA.lpPdS5sA";

constexpr ErrorCase kErrors[] = {
    {"a bad CIDR on a route", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    access: [{allow: 10.0.0.1/8}, {deny: all}]
)", 5, 22, "has bits set after the /8 prefix"},

    {"a bad address at the top level", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
access:
  - allow: [10.0.0.0/8, 300.1.2.3]
routes: [{prefix: /, upstream: app}]
)", 3, 25, "invalid address \"300.1.2.3\""},

    {"allow and deny in one rule", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
access: [{allow: all, deny: all}]
routes: [{prefix: /, upstream: app}]
)", 2, 10, "give one of allow or deny"},

    {"an invalid regex", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
rewrite:
  - {match: "^/old/(.*$", to: "/v2/$1"}
routes: [{prefix: /, upstream: app}]
)", 3, 13, "invalid regex: missing ): ^/old/(.*$"},

    {"an undefined group", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
rewrite:
  - {match: "^/old/(.*)$", to: "/v2/$3"}
routes: [{prefix: /, upstream: app}]
)", 3, 32, "$3 names a group the regex does not have (it has 1)"},

    {"a redirect status", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
rewrite: [{match: "^/a$", to: /b, redirect: 303}]
routes: [{prefix: /, upstream: app}]
)", 2, 45, "expected one of: 301, 302"},

    {"a route's rewrite without an upstream", R"(routes:
  - prefix: /
    redirect: https://example.com/
    rewrite: [{match: "^/a$", to: /b}]
)", 4, 5, "rewrite needs an upstream, not a redirect route"},

    {"auth without its file", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    auth: {realm: staff}
)", 5, 11, "missing required key \"htpasswd\""},

    {"admin auth with a file that is not there", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
admin: {listen: "127.0.0.1:0", auth: {htpasswd: /nonexistent/gw-htpasswd}}
routes: [{prefix: /, upstream: app}]
)", 2, 49, "cannot read htpasswd file \"/nonexistent/gw-htpasswd\""},
};

}  // namespace

TEST_CASE("config access: mistakes at their place") { check_errors(kErrors); }

TEST_CASE("config access: an htpasswd file's bad lines at the file's line") {
  TempDir dir;
  dir.write("users", std::string("ann:") + kSha256 + "\nbob:$apr1$abc$PZF73YJz5hJ9yyI.7OP.R.\n");
  dir.write("empty", "# nobody\n");
  const FileErrorCase cases[] = {
      {"apr1", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
auth: {realm: staff, htpasswd: users}
routes: [{prefix: /, upstream: app}]
)", "users", 2, 1, "apr1 (Apache MD5) hashes are not supported"},
      {"no users", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
auth: {htpasswd: empty}
routes: [{prefix: /, upstream: app}]
)", "gw.yaml", 2, 18, "has no users"},
  };
  check_file_errors(dir, cases);
}

TEST_CASE("config access: access, auth and rewrite read, a route's replacing the top level's") {
  TempDir dir;
  dir.write("users", std::string("ann:") + kSha256 + "\n");
  auto file = dir.write("gw.yaml", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
access: [{allow: [10.0.0.0/8, "::1"]}, {deny: all}]
auth: {realm: staff, htpasswd: users}
admin: {listen: "127.0.0.1:0", auth: {htpasswd: users, realm: admin}}
rewrite:
  - {match: "^/old/(.*)$", to: "/v2/$1"}
  - {match: "^/gone$", to: /here, redirect: 301}
routes:
  - prefix: /open/
    upstream: app
    access: []
    auth: off
  - prefix: /api/
    upstream: app
    auth: {htpasswd: users, forward: true}
    rewrite: [{match: "^/api/(.*)$", to: "/internal/$1"}]
  - prefix: /
    upstream: app
)");
  auto config = loaded_ok(load_config(file.string()));
  REQUIRE(config->access.rules);
  CHECK(config->access.rules->size() == 3);
  CHECK(config->access.rules->at(0).allow);
  CHECK_FALSE(config->access.rules->at(2).range.has_value());
  REQUIRE(config->access.auth);
  CHECK(config->access.auth->realm == "staff");
  CHECK(config->access.auth->htpasswd == (dir.path() / "users").string());
  CHECK(config->access.auth->users->size() == 1);
  REQUIRE(config->admin.auth);
  CHECK(config->admin.auth->realm == "admin");
  CHECK(config->rewrite.size() == 2);
  CHECK(config->rewrite[1].redirect == 301);
  const auto& open = config->routes[0];
  CHECK(access::effective_rules(open.access, config->access) == nullptr);
  CHECK(access::effective_auth(open.access, config->access) == nullptr);
  const auto& api = config->routes[1];
  REQUIRE(access::effective_auth(api.access, config->access) != nullptr);
  CHECK(access::effective_auth(api.access, config->access)->forward);
  CHECK(access::effective_auth(api.access, config->access)->realm == "Restricted");
  CHECK(api.rewrite.size() == 1);
  const auto& rest = config->routes[2];
  CHECK(access::effective_rules(rest.access, config->access) == &*config->access.rules);
  CHECK(access::effective_auth(rest.access, config->access) == &*config->access.auth);
}
