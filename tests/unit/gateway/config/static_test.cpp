// Tests for the `static:` route kind (gateway/config/static.cpp) and
// `error_pages:` (gateway/config/error_pages.cpp): what a valid block
// gives, and each mistake refused at file:line:column (a missing root or
// page file, a bad status key, a try_files entry that could leave the
// root, intercept at the top level, static beside another kind).
#include "gateway/config.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "config_check.hpp"
#include "gateway/static_memory.hpp"

using namespace gateway;
using namespace gateway::config::testing;

namespace {

void write_files(const TempDir& dir) {
  dir.write("www/index.html", "<p>home</p>\n");
  dir.write("pages/404.html", "<p>not here</p>\n");
  dir.write("pages/oops.html", "<p>oops</p>\n");
  dir.write("big.html", std::string(error_pages::kMaxPageBytes + 1, 'x'));
}

constexpr FileErrorCase kStaticErrors[] = {
    {"root missing", R"(routes:
  - prefix: /
    static: {index: index.html}
)", "gw.yaml", 3, 13, "missing required key \"root\""},

    {"root that does not exist", R"(routes:
  - prefix: /
    static: {root: nowhere}
)", "gw.yaml", 3, 20, "cannot open root directory \"nowhere\""},

    {"root that is a file", R"(routes:
  - prefix: /
    static: {root: www/index.html}
)", "gw.yaml", 3, 20, "cannot open root directory"},

    {"index with a slash", R"(routes:
  - prefix: /
    static: {root: www, index: [index.html, ../x.html]}
)", "gw.yaml", 3, 45, "index \"../x.html\" must be a file name"},

    {"try_files with a dot-dot", R"(routes:
  - prefix: /
    static: {root: www, try_files: [$uri, /../secret]}
)", "gw.yaml", 3, 43, "may not contain \"..\""},

    {"try_files with another variable", R"(routes:
  - prefix: /
    static: {root: www, try_files: [$request_uri]}
)", "gw.yaml", 3, 37, "must start with '/' or $uri"},

    {"try_files with an unknown variable after $uri", R"(routes:
  - prefix: /
    static: {root: www, try_files: [$uri$args]}
)", "gw.yaml", 3, 37, "the only variable is $uri"},

    {"empty try_files", R"(routes:
  - prefix: /
    static: {root: www, try_files: []}
)", "gw.yaml", 3, 36, "must list at least one path"},

    {"fallback not an error status", R"(routes:
  - prefix: /
    static: {root: www, fallback: 200}
)", "gw.yaml", 3, 35, "fallback"},

    {"memory not a size", R"(routes:
  - prefix: /
    static: {root: www, memory: lots}
)", "gw.yaml", 3, 33, "size"},

    {"memory over 1 GiB", R"(routes:
  - prefix: /
    static: {root: www, memory: 2GiB}
)", "gw.yaml", 3, 33, "memory"},

    {"unknown key", R"(routes:
  - prefix: /
    static: {root: www, autoindex: true}
)", "gw.yaml", 3, 25, "autoindex"},

    {"static and upstream", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    static: {root: www}
)", "gw.yaml", 3, 5, "not upstream and static"},

    {"cache on a static route", R"(routes:
  - prefix: /
    static: {root: www}
    cache: main
)", "gw.yaml", 4, 5, "cache needs an upstream, not a static route"},
};

constexpr FileErrorCase kErrorPageErrors[] = {
    {"page file missing", R"(error_pages: {404: pages/none.html}
routes:
  - prefix: /
    static: {root: www}
)", "gw.yaml", 1, 20, "cannot read error page \"pages/none.html\""},

    {"page file too large", R"(error_pages: {500: big.html}
routes:
  - prefix: /
    static: {root: www}
)", "gw.yaml", 1, 20, "larger than 1 MiB"},

    {"status out of range", R"(error_pages: {302: pages/404.html}
routes:
  - prefix: /
    static: {root: www}
)", "gw.yaml", 1, 15, "invalid status \"302\""},

    {"class other than 4xx and 5xx", R"(error_pages: {3xx: pages/404.html}
routes:
  - prefix: /
    static: {root: www}
)", "gw.yaml", 1, 15, "invalid status \"3xx\""},

    {"intercept at the top level", R"(error_pages: {intercept: true}
routes:
  - prefix: /
    static: {root: www}
)", "gw.yaml", 1, 15, "intercept is a route's key"},

    {"a route's page file missing", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    error_pages: {5xx: pages/none.html, intercept: true}
)", "gw.yaml", 5, 24, "cannot read error page"},

    {"a route's intercept not a boolean", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    error_pages: {5xx: pages/oops.html, intercept: maybe}
)", "gw.yaml", 5, 52, "maybe"},

    {"error_pages not a map", R"(error_pages: [pages/404.html]
routes:
  - prefix: /
    static: {root: www}
)", "gw.yaml", 1, 14, "expected a map"},
};

}  // namespace

TEST_CASE("config static: mistakes in a static block are refused at file:line:column") {
  TempDir dir;
  write_files(dir);
  check_file_errors(dir, kStaticErrors);
}

TEST_CASE("config static: mistakes in error_pages are refused at file:line:column") {
  TempDir dir;
  write_files(dir);
  check_file_errors(dir, kErrorPageErrors);
}

TEST_CASE("config static: a static route with its root opened, and error pages read at load") {
  TempDir dir;
  write_files(dir);
  auto file = dir.write("gw.yaml", R"(error_pages: {404: pages/404.html, 5xx: pages/oops.html}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /app/
    upstream: app
    error_pages: {502: pages/oops.html, intercept: true}
  - prefix: /api/
    upstream: app
    error_pages: {intercept: true}
  - prefix: /
    static: {root: www, index: [index.htm, index.html], try_files: [$uri, $uri/, /index.html], fallback: 410,
             precompressed: true, memory: 1MiB}
)");
  auto config = loaded_ok(load_config(file.string()));
  REQUIRE(config->routes.size() == 3);
  CHECK(*config->error_pages.exact.at(404) == "<p>not here</p>\n");
  CHECK(*config->error_pages.by_class[5] == "<p>oops</p>\n");
  const auto& app = config->routes[0];
  REQUIRE(app.error_pages);
  CHECK(app.error_pages->intercept);
  CHECK(*app.error_pages->exact.at(502) == "<p>oops</p>\n");
  CHECK(&error_pages::for_route(config->routes[1], *config) == &config->error_pages);
  const auto& www = config->routes[2];
  CHECK(www.kind == RouteConfig::Kind::static_files);
  REQUIRE(www.static_files);
  const auto& s = *www.static_files;
  CHECK(s.root == (dir.path() / "www").string());
  REQUIRE(s.dir);
  CHECK(s.dir->fd() >= 0);
  CHECK(s.index == std::vector<std::string>{"index.htm", "index.html"});
  CHECK(s.try_files == std::vector<std::string>{"$uri", "$uri/", "/index.html"});
  CHECK(s.fallback == 410);
  CHECK(s.precompressed);
  CHECK(s.memory == 1 << 20);
  REQUIRE(s.kept);
  CHECK(s.kept->budget() == 1 << 20);
  CHECK_FALSE(www.error_pages);
}

TEST_CASE("config static: small files are kept in 4 MiB by default, and memory: 0 keeps none") {
  TempDir dir;
  write_files(dir);
  auto file = dir.write("gw.yaml", R"(routes:
  - prefix: /none/
    static: {root: www, memory: 0}
  - prefix: /
    static: {root: www}
)");
  auto config = loaded_ok(load_config(file.string()));
  REQUIRE(config->routes.size() == 2);
  CHECK(config->routes[0].static_files->memory == 0);
  CHECK_FALSE(config->routes[0].static_files->kept);
  CHECK(config->routes[1].static_files->memory == 4 << 20);
  REQUIRE(config->routes[1].static_files->kept);
  CHECK(config->routes[1].static_files->kept->budget() == 4 << 20);
}
