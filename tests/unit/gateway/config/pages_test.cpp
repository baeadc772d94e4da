// Tests for page routes (gateway/config/pages.cpp): the template is read and
// parsed at load, relative to the configuration's directory; its errors name
// the template file and come where the configuration names it; its includes
// may use only the parameters of the route's path.
#include "gateway/config.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "config_check.hpp"
#include "gateway/compose/template.hpp"

using namespace gateway;
using namespace gateway::config::testing;

namespace {

// The cases below name these templates; each case's YAML is written to
// gw.yaml next to them.
void write_templates(const TempDir& dir) {
  dir.write("ok.html", "<p><!--# include virtual=\"/f/{id}\" --></p>\n");
  dir.write("static.html", "<p><!--# include virtual=\"/f/static\" --></p>\n");
  dir.write("pages/x.html", "<p>x</p>\n");
  dir.write("params.html", R"(<main>
  <esi:include src="/f/channel/{id}"/>
  <esi:include src="/f/chat/{channel}" onerror="continue"/>
</main>
)");
  dir.write("bad.html", R"(<main>
  <esi:include src="/f/{id}" colour="red"/>
</main>
)");
  dir.write("alt.html", "<esi:include src=\"/f/{id}\" alt=\"/f/alt/{lang}\"/>\n");
  dir.write("fallback.html",
            "<!--# include virtual=\"/f/{id}\" fallback=\"/f/fallback/{user}\" -->\n");
}

// A page instead of an upstream: what only a proxy route takes.
constexpr FileErrorCase kPageRouteErrors[] = {
    {"upstream and page", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /channels/{id}
    upstream: app
    page: ok.html
)", "gw.yaml", 3, 5, "routes[0]: give one of upstream, page, aggregate or redirect, not upstream and page"},

    {"cache on a page route", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /channels/{id}
    page: ok.html
    cache: {zone: main, ttl: 10s}
)", "gw.yaml", 5, 5, "routes[0]: cache needs an upstream, not a page route"},

    {"strip_prefix on a page route", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /channels/
    page: static.html
    strip_prefix: true
)", "gw.yaml", 5, 5, "routes[0]: strip_prefix needs an upstream or a static root, not a page route"},
};

constexpr FileErrorCase kPageErrors[] = {
    {"a page without a template", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /channels/{id}
    page: {timeout: 1s}
)", "gw.yaml", 4, 11, "routes[0].page: missing required key \"template\""},

    {"a missing template file", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /channels/{id}
    page:
      template: nope.html
)", "gw.yaml", 5, 17,
     "routes[0].page.template: cannot read template \"nope.html\": No such file or directory"},

    {"a missing template file in the shorthand", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /channels/{id}
    page: pages/nope.html
)", "gw.yaml", 4, 11, "routes[0].page: cannot read template \"pages/nope.html\": No such file"},

    {"a template that is a directory", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /channels/{id}
    page: pages
)", "gw.yaml", 4, 11, "cannot read template \"pages\": is a directory"},

    {"an empty template name", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /channels/{id}
    page: {template: ""}
)", "gw.yaml", 4, 22, "routes[0].page.template: must not be empty"},

    {"a page nesting too deep", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /channels/{id}
    page: {template: ok.html, max_depth: 9}
)", "gw.yaml", 4, 42, "routes[0].page.max_depth: 9 is out of range (0..8)"},

    {"a zero page timeout", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /channels/{id}
    page:
      template: ok.html
      timeout: 0s
)", "gw.yaml", 6, 16, "routes[0].page.timeout: duration \"0s\" must be at least 1ms"},

    {"no fragment bytes", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /channels/{id}
    page:
      template: ok.html
      max_fragment_bytes: 0
)", "gw.yaml", 6, 27, "routes[0].page.max_fragment_bytes: size \"0\" is out of range (1.."},

    {"an unknown key in a page", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /channels/{id}
    page:
      template: ok.html
      depth: 2
)", "gw.yaml", 6, 7, "unknown key \"depth\" in routes[0].page"},

    {"a page as a list", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /channels/{id}
    page: [ok.html]
)", "gw.yaml", 4, 11, "routes[0].page: expected a map, got a list"},
};

// Errors in the template file itself, and includes using parameters the
// route's path lacks.
constexpr FileErrorCase kTemplateErrors[] = {
    {"a template error names the template and a place in it", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /channels/{id}
    page: {template: bad.html}
)", "bad.html", 2, 30, "unknown attribute colour"},

    {"an include using a parameter the path lacks", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /channels/{id}
    page: params.html
)", "params.html", 3, 3,
     "unknown parameter \"{channel}\" in include src \"/f/chat/{channel}\" (the route's path "
     "\"/channels/{id}\" has: {id})"},

    {"an include using a parameter on a prefix route", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /channels/
    page: ok.html
)", "ok.html", 1, 4,
     "unknown parameter \"{id}\" in include src \"/f/{id}\" (a prefix route has no parameters)"},

    {"an include using a parameter on a path without any", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /channels
    page: ok.html
)", "ok.html", 1, 4, "(the route's path \"/channels\" has no parameters)"},

    {"an alt using an unknown parameter", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /channels/{id}
    page: alt.html
)", "alt.html", 1, 1, "unknown parameter \"{lang}\" in include alt \"/f/alt/{lang}\""},

    {"a fallback URL using an unknown parameter", R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /channels/{id}
    page: fallback.html
)", "fallback.html", 1, 1,
     "unknown parameter \"{user}\" in include fallback \"/f/fallback/{user}\""},
};

constexpr const char* kChannelTemplate = R"(<html><body>
<!--# include virtual="/fragments/channel/{id}" -->
<esi:include src="/fragments/chat/{id}" alt="/fragments/chat-fallback/{id}" onerror="continue"/>
</body></html>
)";

constexpr const char* kFragments = R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - prefix: /fragments/
    upstream: app
)";

}  // namespace

TEST_CASE("config pages: a page route: its template read and parsed at load, with every option") {
  TempDir dir;
  dir.write("conf/pages/channel.html", kChannelTemplate);
  fs::path file = dir.write("conf/gateway.yaml", std::string(kFragments) + R"(  - path: /channels/{id}
    page:
      template: pages/channel.html
      timeout: 500ms
      max_depth: 0
      max_fragment_bytes: 64KiB
)");
  auto config = loaded_ok(load_config(file.string()));
  const auto& routes = config->routes;
  REQUIRE(routes.size() == 2);

  CHECK(routes[0].kind == RouteConfig::Kind::proxy);
  CHECK_FALSE(routes[0].page.has_value());
  CHECK_FALSE(routes[0].aggregate.has_value());

  const auto& full = routes[1];
  CHECK(full.kind == RouteConfig::Kind::page);
  CHECK(full.upstream.empty());
  CHECK_FALSE(full.cache.has_value());
  CHECK_FALSE(full.aggregate.has_value());
  CHECK(full.name == "/channels/{id}");
  REQUIRE(full.page.has_value());
  // Absolute, relative to the config's directory.
  CHECK(full.page->template_path == (dir.path() / "conf/pages/channel.html").string());
  CHECK(full.page->timeout == Duration{500});
  CHECK(full.page->max_depth == 0);
  CHECK(full.page->max_fragment_bytes == 64 * 1024);
  REQUIRE(full.page->parsed != nullptr);
  const auto& tpl = *full.page->parsed;
  REQUIRE(tpl.includes() == 2);
  std::vector<const page::Include*> includes;
  for (const auto& segment : tpl.segments) {
    if (segment.include) includes.push_back(&*segment.include);
  }
  REQUIRE(includes.size() == 2);
  CHECK(includes[0]->src == "/fragments/channel/{id}");
  CHECK(includes[0]->line == 2);
  CHECK(includes[1]->src == "/fragments/chat/{id}");
  CHECK(includes[1]->alt == "/fragments/chat-fallback/{id}");
  CHECK(includes[1]->line == 3);
}

TEST_CASE("config pages: page: FILE is the template alone, with every other default") {
  TempDir dir;
  dir.write("conf/pages/channel.html", kChannelTemplate);
  fs::path file = dir.write("conf/gateway.yaml", std::string(kFragments) + R"(  - path: /short/{id}
    page: pages/../pages/channel.html
    name: short
)");
  auto config = loaded_ok(load_config(file.string()));
  const auto& shorthand = config->routes[1];
  CHECK(shorthand.kind == RouteConfig::Kind::page);
  CHECK(shorthand.name == "short");
  REQUIRE(shorthand.page.has_value());
  CHECK(shorthand.page->template_path == (dir.path() / "conf/pages/channel.html").string());  // normal
  CHECK(shorthand.page->timeout == Duration{2'000});
  CHECK(shorthand.page->max_depth == 3);
  CHECK(shorthand.page->max_fragment_bytes == 1 << 20);
  REQUIRE(shorthand.page->parsed != nullptr);
  CHECK(shorthand.page->parsed->includes() == 2);
}

TEST_CASE("config pages: a prefix route may be a page whose includes use no parameters") {
  TempDir dir;
  fs::path footer = dir.write("static/footer.html",
                              "<footer><!--# include virtual=\"/f/footer\" --></footer>\n");
  fs::path file = dir.write("conf/gateway.yaml", std::string(kFragments) + R"(  - prefix: /static/
    page: {template: )" + footer.string() + R"(}
)");
  auto config = loaded_ok(load_config(file.string()));
  const auto& prefixed = config->routes[1];
  CHECK(prefixed.kind == RouteConfig::Kind::page);
  CHECK(prefixed.prefix == "/static/");
  CHECK(prefixed.page->template_path == footer.string());
  REQUIRE(prefixed.page->parsed != nullptr);
  CHECK(prefixed.page->parsed->includes() == 1);
}

TEST_CASE("config pages: a page route: upstream, cache and strip_prefix are a proxy route's") {
  TempDir dir;
  write_templates(dir);
  check_file_errors(dir, kPageRouteErrors);
}

TEST_CASE("config pages: a page: each mistake at the node at fault") {
  TempDir dir;
  write_templates(dir);
  check_file_errors(dir, kPageErrors);
}

TEST_CASE("config pages: a template's mistakes, in the template file") {
  TempDir dir;
  write_templates(dir);
  check_file_errors(dir, kTemplateErrors);
}

TEST_CASE("config pages: template errors come where the configuration names the template") {
  TempDir dir;
  fs::path tpl = dir.write("pages/channel.html", R"(<p>
  <esi:include src="/f/{id}" foo="1"/>
<!--# include virtual="/f/{id}" timeout="soon" -->
</p>
)");
  fs::path other = dir.write("pages/other.html", "<esi:include src=\"/f/{id}/{lang}\"/>\n");
  fs::path file = dir.write("gw.yaml", R"(workers: 0
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes:
  - path: /channels/{id}
    page: pages/channel.html
  - path: /other/{id}
    page: {template: pages/other.html, max_depth: -1}
  - prefix: /x/
    upstream: nowhere
)");
  const std::string yaml = file.string();
  check_all_errors(load_config(file.string()), {
      yaml + ":1:10: workers: 0 is out of range (1..256)",
      tpl.string() + ":2:30: unknown attribute foo on <esi:include>",
      tpl.string() + ":3:33: bad timeout \"soon\"",
      // The template's own errors sort by where the configuration names it.
      other.string() + ":1:1: unknown parameter \"{lang}\" in include src \"/f/{id}/{lang}\" (the "
                       "route's path \"/other/{id}\" has: {id})",
      yaml + ":7:51: routes[1].page.max_depth: -1 is out of range (0..8)",
      yaml + ":9:15: routes[2].upstream: unknown upstream \"nowhere\"",
  });
}
