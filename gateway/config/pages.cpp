// A route's `page:` and `aggregate:` blocks (what the route does is chosen in
// routes.cpp). A page's template is read and parsed here, at load, so a broken
// template is a configuration error naming the template file and a place in
// it (gateway/compose/template.hpp parses it). The URLs of a page's includes
// and of an aggregate's parts may use only the {params} of the route's own
// path pattern. The other sections are listed in sections.hpp.
#include "gateway/config/sections.hpp"

#include <algorithm>
#include <memory>
#include <optional>

#include "base/file.hpp"
#include "gateway/compose/template.hpp"

namespace gateway::config {

namespace {


// The parameters a route's URLs may use: those of its path pattern. Nothing
// to check against when the route's own prefix or path is invalid.
struct RouteParams {
  bool known = false;
  std::vector<std::string> names;
  std::string hint;  // " (the route's path \"/x/{id}\" has: {id})", for messages
};

RouteParams route_params(const RouteConfig& route) {
  RouteParams params;
  if (!route.prefix.empty()) {
    params.known = true;
    params.hint = " (a prefix route has no parameters)";
  } else if (!route.path.empty()) {
    params.known = true;
    std::string listed;
    std::string_view pattern = route.path;
    for (std::size_t open = pattern.find('{'); open != std::string_view::npos;
         open = pattern.find('{', open + 1)) {
      auto close = pattern.find('}', open);
      params.names.emplace_back(pattern.substr(open + 1, close - open - 1));
      listed += (listed.empty() ? "{" : ", {") + params.names.back() + "}";
    }
    params.hint = " (the route's path " + quote(route.path) +
                  (listed.empty() ? " has no parameters)" : " has: " + listed + ")");
  }
  return params;
}

// The {name}s in a URL that are not parameters of the route, each once.
std::vector<std::string> unknown_params(std::string_view url, const RouteParams& params) {
  std::vector<std::string> unknown;
  if (!params.known) return unknown;
  for (std::size_t close = url.find('}'); close != std::string_view::npos;
       close = url.find('}', close + 1)) {
    auto open = url.rfind('{', close);
    if (open == std::string_view::npos) continue;
    std::string name(url.substr(open + 1, close - open - 1));
    if (name.find('}') != std::string::npos) continue;  // "{a}}": the first '}' closed it
    bool known = std::find(params.names.begin(), params.names.end(), name) != params.names.end();
    if (!known && std::find(unknown.begin(), unknown.end(), name) == unknown.end()) {
      unknown.push_back(std::move(name));
    }
  }
  return unknown;
}

// ---------------------------------------------------------------------------
// Pages
// ---------------------------------------------------------------------------

// The includes' URLs (src, alt, fallback) against the route's parameters;
// errors name the include in the template.
void check_include_params(Context& ctx, const Field& field, const RouteParams& params,
                          const std::string& template_path, const page::Template& tpl) {
  for (const auto& segment : tpl.segments) {
    if (!segment.include) continue;
    const auto& include = *segment.include;
    for (auto [attribute, url] : {std::pair{"src", &include.src}, std::pair{"alt", &include.alt},
                                  std::pair{"fallback", &include.fallback_url}}) {
      for (const auto& name : unknown_params(*url, params)) {
        ctx.diag.error_in(template_path, include.line, include.column,
                          "unknown parameter " + quote("{" + name + "}") + " in include " +
                              attribute + " " + quote(*url) + params.hint,
                          field.mark);
      }
    }
  }
}

// Reads and parses the template file at load, so a broken template is a
// configuration error. Its errors name the template file and a place in it,
// and are listed where the configuration names the template.
void read_template(Context& ctx, const Field& field, const RouteParams& params, PageConfig& page) {
  auto value = read_string(ctx.diag, field);
  if (!value) return;
  page.template_path = resolve_path(ctx, *value).string();

  auto file = read_whole_file(page.template_path);
  if (!file.bytes) {
    ctx.diag.error(field, "cannot read template " + quote(*value) + ": " + file.error);
    return;
  }

  auto parsed = page::parse_template(*file.bytes);
  std::stable_sort(parsed.errors.begin(), parsed.errors.end(), [](const auto& a, const auto& b) {
    return std::pair(a.line, a.column) < std::pair(b.line, b.column);
  });
  for (auto& error : parsed.errors) {
    ctx.diag.error_in(page.template_path, error.line, error.column, std::move(error.message),
                      field.mark);
  }
  if (!parsed.errors.empty()) return;

  check_include_params(ctx, field, params, page.template_path, parsed.tpl);
  page.parsed = std::make_shared<const page::Template>(std::move(parsed.tpl));
}

// ---------------------------------------------------------------------------
// Aggregates
// ---------------------------------------------------------------------------

// One part: `key: PATH` or `key: {path, required, timeout}`. False when it
// could not be read.
bool read_aggregate_part(Context& ctx, const Entry& entry, const RouteParams& params,
                         bool options_beside, AggregatePart& part) {
  part.key = entry.key;
  const Field* path = &entry.value;
  // Declared here: `path` may point into it, and is used below.
  std::optional<MapReader> map_storage;
  if (entry.value.node.IsMap()) {
    constexpr std::string_view kKeys[] = {"path", "required", "timeout"};
    auto& map = map_storage.emplace(ctx.diag, entry.value, kKeys);
    path = map.require("path");
    map.read_bool("required", part.required);
    map.read("timeout", part.timeout,
             [&](const Field& f) { return read_duration(ctx.diag, f, Duration{1}); });
  }
  if (path == nullptr) return false;
  auto value = read_string(ctx.diag, *path);
  if (!value) return false;
  if (value->front() != '/') {
    // `aggregate: {a: /x, timeout: 1s}` reads timeout as a part.
    bool option = entry.key == "timeout" || entry.key == "max_part_bytes";
    ctx.diag.error(*path, "path " + quote(*value) + " must start with '/'" +
                              (option && !options_beside
                                   ? " (options of the whole aggregate go beside its parts: "
                                     "{parts: {...}, " + entry.key + ": ...})"
                                   : ""));
    return false;
  }
  for (const auto& name : unknown_params(*value, params)) {
    ctx.diag.error(*path, "unknown parameter " + quote("{" + name + "}") + " in " +
                              quote(*value) + params.hint);
  }
  part.path = std::move(*value);
  return true;
}

// The parts, in file order: at least one, each key once and not empty.
void read_aggregate_parts(Context& ctx, const Field& field, const RouteParams& params,
                          bool options_beside, AggregateConfig& aggregate) {
  if (!expect_type(ctx.diag, field, YAML::NodeType::Map)) return;
  if (field.node.size() == 0) {
    ctx.diag.error(field, "must list at least one part");
    return;
  }
  for (const auto& entry : map_entries(ctx.diag, field, "part")) {
    if (entry.key.empty()) {
      ctx.diag.error(entry.key_mark, "a part's key must not be empty" + where(field));
      continue;
    }
    AggregatePart part;
    if (read_aggregate_part(ctx, entry, params, options_beside, part)) {
      aggregate.parts.push_back(std::move(part));
    }
  }
}

}  // namespace

// `page: FILE` or `page: {template: FILE, timeout, max_depth, max_fragment_bytes}`.
void read_page(Context& ctx, const Field& field, const RouteConfig& route, PageConfig& page) {
  const RouteParams params = route_params(route);
  if (field.node.IsScalar()) {
    read_template(ctx, field, params, page);
    return;
  }
  MapReader map(ctx.diag, field, {"template", "timeout", "max_depth", "max_fragment_bytes"});
  if (!map.valid()) return;
  map.read_duration("timeout", page.timeout, Duration{1});
  map.read_int("max_depth", page.max_depth, 0, 8);
  map.read_size("max_fragment_bytes", page.max_fragment_bytes, 1, kMaxSize);
  if (const Field* file = map.require("template")) read_template(ctx, *file, params, page);
}

// `aggregate: {key: PATH, key: {path, required, timeout}, ...}`, or with
// options of the whole aggregate: `aggregate: {parts: {...}, timeout, max_part_bytes}`.
void read_aggregate(Context& ctx, const Field& field, const RouteConfig& route,
                    AggregateConfig& aggregate) {
  if (!expect_type(ctx.diag, field, YAML::NodeType::Map)) return;
  const RouteParams params = route_params(route);
  bool has_parts = false;
  for (const auto& pair : field.node) {
    if (pair.first.IsScalar() && pair.first.Scalar() == "parts") has_parts = true;
  }
  if (!has_parts) {
    read_aggregate_parts(ctx, field, params, false, aggregate);
    return;
  }
  MapReader map(ctx.diag, field, {"parts", "timeout", "max_part_bytes"});
  map.read_duration("timeout", aggregate.timeout, Duration{1});
  map.read_size("max_part_bytes", aggregate.max_part_bytes, 1, kMaxSize);
  if (const Field* parts = map.get("parts")) {
    read_aggregate_parts(ctx, *parts, params, true, aggregate);
  }
}

}  // namespace gateway::config
