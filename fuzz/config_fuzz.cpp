// libFuzzer target: the configuration loader (gateway/config.hpp) on any
// YAML text. Loading never throws for bad input: every problem must come
// back as a ConfigError with a file, a message and a line and column >= 1,
// and a Config comes back exactly when there are none. A loaded Config has
// its routes resolved: each proxy route's upstream and each cache rule's
// zone index names the group or zone it says, and each page has its parsed
// template.
//
// The file "loads" from a temporary directory holding the repository's page
// templates (pages/channel.html, as conf/demo.yaml names it, and a broken
// one), so relative paths resolve there and template errors are reached.
// Inputs naming device or kernel files (/dev, /proc, /sys, which the
// loader would read as templates: /dev/zero never ends) are skipped; a
// configuration is the operator's, not an attacker's.
#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include <unistd.h>

#include "gateway/config.hpp"
#include "check.hpp"

namespace fs = std::filesystem;

namespace {

fs::path g_dir;  // the temporary directory the configuration "lives" in

using fuzz::check;
using fuzz::fail;

void remove_dir() {
  std::error_code ec;
  fs::remove_all(g_dir, ec);
}

// Escapes can spell a path's letters (\x64ev is "dev") in a double-quoted
// YAML scalar; such inputs are skipped with the rest.
bool names_special_files(std::string_view yaml) {
  for (std::string_view s : {"dev", "proc", "sys", "\\x", "\\u", "\\U"})
    if (yaml.find(s) != std::string_view::npos) return true;
  return false;
}

void check_loaded(const gateway::Config& c) {
  for (const auto& route : c.routes) {
    if (route.kind == gateway::RouteConfig::Kind::proxy) {
      check(route.upstream_index < c.upstreams.size() && c.upstreams[route.upstream_index].name == route.upstream,
            "a proxy route's upstream is not resolved", route.upstream);
    }
    if (route.cache) {
      check(route.cache->zone_index < c.caches.size() && c.caches[route.cache->zone_index].name == route.cache->zone,
            "a cache rule's zone is not resolved", route.cache->zone);
    }
    if (route.kind == gateway::RouteConfig::Kind::page)
      check(route.page && route.page->parsed, "a page route without its parsed template");
    if (route.kind == gateway::RouteConfig::Kind::aggregate)
      check(route.aggregate && !route.aggregate->parts.empty(), "an aggregate route without parts");
    if (route.kind == gateway::RouteConfig::Kind::redirect)
      check(route.redirect && !route.redirect->to.empty() && !gateway::edge::check_variables(route.redirect->to),
            "a redirect route without a valid target");
    // Header rules never touch what the gateway frames or writes itself.
    for (const auto* edits : {&route.headers.request, &route.headers.response}) {
      auto refused = [&](std::string_view name) {
        return edits == &route.headers.request ? gateway::edge::refused_request_field(name)
                                               : gateway::edge::refused_response_field(name);
      };
      for (const auto& [name, value] : edits->set) check(!refused(name), "a refused field set", name);
      for (const auto& [name, value] : edits->add) check(!refused(name), "a refused field added", name);
      for (const auto& name : edits->remove) check(!refused(name), "a refused field removed", name);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  std::string pattern = (fs::temp_directory_path() / "gw-config-fuzz-XXXXXX").string();
  if (!::mkdtemp(pattern.data())) fail("mkdtemp failed");
  g_dir = pattern;
  std::atexit(remove_dir);
  fs::create_directories(g_dir / "pages");
  fs::copy_file(fs::path(GATEWAY_SOURCE_DIR) / "conf/pages/channel.html", g_dir / "pages/channel.html");
  std::ofstream(g_dir / "pages/broken.html") << "<p>\n<!--# include virtual=\"/f/{nope}\" -->\n<esi:include src=\"/x\"";
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string yaml(reinterpret_cast<const char*>(data), size);
  if (names_special_files(yaml)) return -1;  // not added to the corpus
  gateway::LoadResult r;
  try {
    r = gateway::load_config_from_string(yaml, (g_dir / "gateway.yaml").string());
  } catch (const std::exception& e) {
    fail("an exception escaped the loader", e.what());
  } catch (...) {
    fail("a non-standard exception escaped the loader");
  }
  check((r.config == nullptr) == !r.errors.empty(), "a config and errors, or neither");
  for (const auto& e : r.errors) {
    check(e.line >= 1 && e.column >= 1, "an error without a line and column", e.to_string());
    check(!e.file.empty() && !e.message.empty(), "an error without a file or message", e.to_string());
  }
  if (r.config) check_loaded(*r.config);
  return 0;
}
