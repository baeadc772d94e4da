// Owns loading the configuration: a YAML file -> a validated, immutable Config.
// Runs on the thread that loads (main at start-up, the signal handler's thread
// on SIGHUP); nothing here is on the request path.
//
// Two layers. The lower one (gateway/config/yaml.hpp: Field, Diagnostics,
// MapReader and the read_* functions) knows YAML: node types, duplicate and
// unknown keys, typed values, and where each node sits in the file. The upper
// one knows the configuration's shape: one reader per section
// (gateway/config/sections.hpp lists them and their files), dispatched from
// the table below, so a new section is one row and a new key a few lines.
// This file reads the file, runs the sections, and then makes the checks
// across them: the names routes give must exist, and no route may repeat
// another. Every problem is recorded and reading goes on, so a user sees all
// of them at once.
#include "gateway/config.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <utility>

#include "base/file.hpp"
#include "gateway/config/sections.hpp"
#include "gateway/config/yaml.hpp"

namespace gateway {

std::string ConfigError::to_string() const {
  if (line <= 0) return file + ": " + message;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

namespace {

namespace fs = std::filesystem;
using config::Field;

constexpr std::string_view kDefaultListen = "127.0.0.1:8080";

// One load: the Config being filled, and what the routes leave for the
// checks across sections.
struct Load {
  config::Context ctx;
  Config& config;
  config::RouteRefs refs;
};

struct Section {
  std::string_view key;
  bool required;
  void (*read)(Load&, const Field&);
};

// Read in this order, whatever the file's: the names routes give are checked
// after all sections, so the order only decides which of two errors at one
// place comes first.
constexpr Section kSections[] = {
    {"listen", false,
     [](Load& l, const Field& f) { config::read_listen(l.ctx, f, l.config.listen); }},
    {"workers", false,
     [](Load& l, const Field& f) { config::read_workers(l.ctx, f, l.config.workers); }},
    {"admin", false,
     [](Load& l, const Field& f) { config::read_admin(l.ctx, f, l.config.admin); }},
    {"access_log", false,
     [](Load& l, const Field& f) { config::read_access_log(l.ctx, f, l.config.access_log, l.config.access_log_format); }},
    {"limits", false,
     [](Load& l, const Field& f) { config::read_limits(l.ctx, f, l.config.limits); }},
    {"timeouts", false,
     [](Load& l, const Field& f) { config::read_timeouts(l.ctx, f, l.config.timeouts); }},
    {"http2", false,
     [](Load& l, const Field& f) { config::read_http2(l.ctx, f, l.config.http2); }},
    {"caches", false,
     [](Load& l, const Field& f) { config::read_caches(l.ctx, f, l.config.caches); }},
    {"upstreams", false,
     [](Load& l, const Field& f) { config::read_upstreams(l.ctx, f, l.config.upstreams); }},
    {"routes", true,
     [](Load& l, const Field& f) { config::read_routes(l.ctx, f, l.config.routes, l.refs); }},
    {"trusted_proxies", false,
     [](Load& l, const Field& f) { config::read_trusted_proxies(l.ctx, f, l.config.trusted_proxies); }},
    {"resolver", false, [](Load& l, const Field& f) { config::read_resolver(l.ctx, f, l.config.resolver); }},
    {"access", false, [](Load& l, const Field& f) { config::read_access_rules(l.ctx, f, l.config.access.rules); }},
    {"auth", false, [](Load& l, const Field& f) { config::read_auth(l.ctx, f, l.config.access.auth); }},
    {"rewrite", false, [](Load& l, const Field& f) { config::read_rewrites(l.ctx, f, l.config.rewrite); }},
    {"error_pages", false, [](Load& l, const Field& f) { config::read_error_pages(l.ctx, f, false, l.config.error_pages); }},
    {"limit", false, [](Load& l, const Field& f) { config::read_rate_limit(l.ctx, f, l.config.limit); }},
    {"max_conns_per_client", false,
     [](Load& l, const Field& f) { config::read_max_conns_per_client(l.ctx, f, l.config.max_conns_per_client); }},
    {"compress", false, [](Load& l, const Field& f) { config::read_compress(l.ctx, f, l.config.compress); }},
};

void resolve_upstreams(Load& load) {
  auto& upstreams = load.config.upstreams;
  for (const auto& use : load.refs.upstreams) {
    auto& route = load.config.routes[use.route];
    auto found = std::find_if(upstreams.begin(), upstreams.end(), [&](const auto& group) {
      return group.name == route.upstream;
    });
    if (found == upstreams.end()) {
      load.ctx.diag.error(use.field, "unknown upstream " + config::quote(route.upstream));
    } else {
      route.upstream_index = static_cast<std::size_t>(found - upstreams.begin());
    }
  }
}

void resolve_cache_zones(Load& load) {
  auto& caches = load.config.caches;
  for (const auto& use : load.refs.zones) {
    auto& rule = *load.config.routes[use.route].cache;
    auto found = std::find_if(caches.begin(), caches.end(),
                              [&](const auto& zone) { return zone.name == rule.zone; });
    if (found == caches.end()) {
      load.ctx.diag.error(use.field, "unknown cache zone " + config::quote(rule.zone));
    } else {
      rule.zone_index = static_cast<std::size_t>(found - caches.begin());
      rule.heuristic = found->heuristic;  // a zone option the rule's freshness reads
    }
  }
}

// Same hosts (in any order) and the same prefix or pattern: the second route
// could never match.
void check_duplicate_routes(Load& load) {
  const auto& routes = load.config.routes;
  const auto& fields = load.refs.route_fields;
  std::map<std::string, std::size_t> seen;
  for (std::size_t i = 0; i < routes.size(); ++i) {
    const auto& route = routes[i];
    if (route.prefix.empty() && route.path.empty()) continue;  // already reported
    auto hosts = route.hosts;
    std::sort(hosts.begin(), hosts.end());
    hosts.erase(std::unique(hosts.begin(), hosts.end()), hosts.end());
    std::string key = route.prefix.empty() ? "path " + route.path : "prefix " + route.prefix;
    key += " scheme " + std::to_string(static_cast<int>(route.scheme));  // routes per scheme are apart
    for (const auto& host : hosts) key += "\n" + host;
    auto [it, inserted] = seen.emplace(key, i);
    if (!inserted) {
      load.ctx.diag.error(fields[i], "duplicate route: same host and " +
                                         std::string(route.prefix.empty() ? "path" : "prefix") +
                                         " as " + fields[it->second].path + " (line " +
                                         std::to_string(routes[it->second].line) + ")");
    }
  }
}

void load_sections(Load& load, const YAML::Node& root) {
  std::vector<std::string_view> keys;
  for (const auto& section : kSections) keys.push_back(section.key);

  // An empty file is an empty map: it then fails on the required keys.
  Field top{root.IsNull() ? YAML::Node(YAML::NodeType::Map) : root,
            config::mark_of(root, YAML::Mark()), ""};
  config::MapReader map(load.ctx.diag, top, keys);
  if (!map.valid()) return;
  load.config.listen = {ListenConfig{*parse_endpoint(kDefaultListen), std::nullopt}};
  for (const auto& section : kSections) {
    const Field* field = section.required ? map.require(section.key) : map.get(section.key);
    if (field != nullptr) section.read(load, *field);
  }
  resolve_upstreams(load);
  resolve_cache_zones(load);
  check_duplicate_routes(load);
}

}  // namespace

LoadResult load_config_from_string(const std::string& yaml, const std::string& file) {
  config::Diagnostics diag(file);
  auto config = std::make_shared<Config>();
  std::error_code ec;
  fs::path absolute = fs::absolute(file, ec);
  if (ec) absolute = file;
  config->file = absolute.lexically_normal().string();

  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    diag.error(e.mark, "YAML syntax error: " + e.msg);
    return {nullptr, diag.take(), {}};
  }

  try {
    Load load{{diag, absolute.parent_path()}, *config, {}};
    load_sections(load, root);
  } catch (const YAML::Exception& e) {
    // The reader never converts with as<>, so this is a bug; still no throw.
    diag.error(e.mark, std::string("internal error reading the configuration: ") + e.what());
  }
  if (!diag.ok()) return {nullptr, diag.take(), {}};
  return {std::move(config), {}, diag.take_warnings()};
}

LoadResult load_config(const std::string& path) {
  auto file = read_whole_file(path);
  if (!file.bytes) {
    return {nullptr, {ConfigError{path, 0, 0, "cannot read configuration: " + file.error}}, {}};
  }
  return load_config_from_string(*file.bytes, path);
}

}  // namespace gateway
