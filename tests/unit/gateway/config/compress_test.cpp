// `compress:` in the configuration (gateway/config/compress.cpp): on a
// route or at the top level, on/off or a map; each mistake at the node at
// fault.
#include <doctest/doctest.h>

#include "config_check.hpp"
#include "gateway/compress.hpp"
#include "gateway/config.hpp"

using namespace gateway;
using namespace gateway::config::testing;

namespace {

constexpr ErrorCase kCompressErrors[] = {
    {"gzip_level over 9", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    compress: {gzip_level: 12}
)", 5, 28, "12 is out of range (1..9)"},

    {"gzip_level 0", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - {prefix: /, upstream: app, compress: {gzip_level: 0}}
)", 3, 55, "out of range (1..9)"},

    {"brotli_quality -1", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
compress:
  brotli_quality: -1
routes:
  - {prefix: /, upstream: app}
)", 3, 19, "out of range (0..11)"},

    {"a type without a subtype", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /
    upstream: app
    compress:
      types: [text/html, json]
)", 6, 26, "invalid media type \"json\""},

    {"a type with parameters", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
compress: {types: ["text/html; charset=utf-8"]}
routes:
  - {prefix: /, upstream: app}
)", 2, 20, "invalid media type"},

    {"*/* is no type", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
compress: {types: ["*/*"]}
routes:
  - {prefix: /, upstream: app}
)", 2, 20, "invalid media type"},

    {"an empty type list", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
compress: {types: []}
routes:
  - {prefix: /, upstream: app}
)", 2, 19, "must list at least one media type"},

    {"an unknown key", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
compress: {level: 5}
routes:
  - {prefix: /, upstream: app}
)", 2, 12, "level"},

    {"neither on, off nor a map", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
compress: gzip
routes:
  - {prefix: /, upstream: app}
)", 2, 11, "expected on, off or a map"},

    {"min_bytes not a size", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
compress: {min_bytes: lots}
routes:
  - {prefix: /, upstream: app}
)", 2, 23, "lots"},
};

}  // namespace

TEST_CASE("config compress: each mistake at the node at fault") { check_errors(kCompressErrors); }

TEST_CASE("config compress: off by default, a route's own replaces the top level's, off on a route") {
  auto none = load_ok(R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - {prefix: /, upstream: app}
)");
  CHECK_FALSE(none->compress.enabled);
  CHECK(compress::config_for(none->routes[0], *none) == nullptr);

  auto c = load_ok(R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
compress: {types: [application/json, text/*], min_bytes: 1KiB, gzip_level: 9, brotli_quality: 11}
routes:
  - {prefix: /a/, upstream: app}
  - {prefix: /b/, upstream: app, compress: off}
  - {prefix: /c/, upstream: app, compress: on}
  - {prefix: /d/, upstream: app, compress: {gzip_level: 1}}
)");
  const auto* a = compress::config_for(c->routes[0], *c);
  REQUIRE(a != nullptr);
  CHECK(a->types == std::vector<std::string>{"application/json", "text/*"});
  CHECK(a->min_bytes == 1024);
  CHECK(a->gzip_level == 9);
  CHECK(a->brotli_quality == 11);
  CHECK(compress::config_for(c->routes[1], *c) == nullptr);
  const auto* on = compress::config_for(c->routes[2], *c);
  REQUIRE(on != nullptr);
  CHECK(on->gzip_level == 5);  // the defaults, not the top level's
  CHECK(on->types == compress::CompressConfig{}.types);
  const auto* d = compress::config_for(c->routes[3], *c);
  REQUIRE(d != nullptr);
  CHECK(d->gzip_level == 1);
  CHECK(d->min_bytes == 256);
}
