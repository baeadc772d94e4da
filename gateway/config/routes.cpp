// The `routes:` section: what each route matches (a prefix or a path pattern
// with {params}, and hosts), what it does (proxy to an upstream, compose a
// page, aggregate JSON), its options, and its cache rule (`cache:`, into
// cache::RuleConfig). Pages and aggregates are read in pages.cpp; the names a
// route gives (its upstream, its cache zone) and routes that repeat another
// are checked in gateway/config.cpp once every section is read. The other
// sections are listed in sections.hpp.
#include "gateway/config/sections.hpp"

#include <charconv>
#include <functional>
#include <map>
#include <optional>
#include <set>

namespace gateway::config {

namespace {

constexpr std::pair<std::string_view, cache::RuleConfig::Query> kCacheQueries[] = {
    {"keep", cache::RuleConfig::Query::keep},
    {"sorted", cache::RuleConfig::Query::sorted},
    {"ignore", cache::RuleConfig::Query::ignore},
};

constexpr std::pair<std::string_view, cache::StaleIf> kUseStale[] = {
    {"error", cache::StaleIf::error},       {"timeout", cache::StaleIf::timeout},
    {"updating", cache::StaleIf::updating}, {"http_500", cache::StaleIf::http_500},
    {"http_502", cache::StaleIf::http_502}, {"http_503", cache::StaleIf::http_503},
    {"http_504", cache::StaleIf::http_504},
};

constexpr long long kMaxLockWaiters = 1'000'000;

constexpr std::pair<std::string_view, RouteConfig::Scheme> kSchemes[] = {
    {"http", RouteConfig::Scheme::http},
    {"https", RouteConfig::Scheme::https},
};

// ---------------------------------------------------------------------------
// What a route matches
// ---------------------------------------------------------------------------

bool valid_param_name(std::string_view name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name.front()))) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

// "/channels/{id}/items": literal segments and {name} parameters, each a whole
// segment. Returns what is wrong, or nothing.
std::optional<std::string> check_path_pattern(std::string_view pattern) {
  if (pattern.empty() || pattern.front() != '/') return "must start with '/'";
  std::set<std::string_view> params;
  std::size_t start = 1;
  while (start <= pattern.size()) {
    auto end = pattern.find('/', start);
    if (end == std::string_view::npos) end = pattern.size();
    auto segment = pattern.substr(start, end - start);
    bool braced = !segment.empty() && segment.front() == '{';
    if (braced) {
      auto name = segment.substr(1, segment.size() - 2);
      if (segment.back() != '}' || name.find_first_of("{}") != std::string_view::npos) {
        return "parameter " + quote(segment) + " must be a whole segment";
      }
      if (!valid_param_name(name)) return "invalid parameter name " + quote(name);
      if (!params.insert(name).second) return "duplicate parameter " + quote(name);
    } else if (segment.find_first_of("{}") != std::string_view::npos) {
      return "parameter in " + quote(segment) + " must be a whole segment";
    }
    start = end + 1;
  }
  return std::nullopt;
}

// Exactly one of `prefix: /api/` and `path: /channels/{id}`.
void read_match(Context& ctx, const MapReader& map, const Field& field, RouteConfig& route) {
  const Field* prefix = map.get("prefix");
  const Field* path = map.get("path");
  if (prefix && path) {
    ctx.diag.error(*map.key_mark("path"), field.path + ": give prefix or path, not both");
  } else if (!prefix && !path) {
    ctx.diag.error(field, "missing required key \"prefix\" or \"path\"");
  } else if (prefix) {
    if (auto value = read_string(ctx.diag, *prefix)) {
      if (value->front() == '/') {
        route.prefix = *value;
      } else {
        ctx.diag.error(*prefix, "prefix " + quote(*value) + " must start with '/'");
      }
    }
  } else if (auto value = read_string(ctx.diag, *path)) {
    if (auto problem = check_path_pattern(*value)) {
      ctx.diag.error(*path, "path " + quote(*value) + ": " + *problem);
    } else {
      route.path = *value;
    }
  }
}

// `host: NAME` or a list of them, compared without case.
std::vector<std::string> read_hosts(Context& ctx, const Field& field) {
  auto items = one_or_list(ctx.diag, field);
  if (field.node.IsSequence() && items.empty()) {
    ctx.diag.error(field, "must list at least one host (or leave host out)");
  }
  std::vector<std::string> hosts;
  for (const auto& item : items) {
    if (auto host = read_string(ctx.diag, item)) hosts.push_back(http::lowercase(*host));
  }
  return hosts;
}

// ---------------------------------------------------------------------------
// A route's cache rule
// ---------------------------------------------------------------------------

// `valid: {200: 10s, 404: 1s}`: a TTL per status code, in file order.
void read_cache_valid(Context& ctx, const Field& field, cache::RuleConfig& rule) {
  if (!expect_type(ctx.diag, field, YAML::NodeType::Map)) return;
  std::map<int, int> lines;  // status -> line first given
  for (const auto& entry : map_entries(ctx.diag, field, "status")) {
    int status = 0;
    auto [end, ec] = std::from_chars(entry.key.data(), entry.key.data() + entry.key.size(), status);
    if (ec != std::errc{} || end != entry.key.data() + entry.key.size() || status < 100 ||
        status > 599) {
      ctx.diag.error(entry.key_mark, "invalid status code " + quote(entry.key) + where(field) +
                                         " (100..599)");
      continue;
    }
    auto [first, inserted] = lines.emplace(status, entry.key_mark.line + 1);
    if (!inserted) {
      ctx.diag.error(entry.key_mark, "duplicate status " + std::to_string(status) + where(field) +
                                         " (first at line " + std::to_string(first->second) + ")");
      continue;
    }
    if (auto ttl = read_duration(ctx.diag, entry.value, Duration{0})) {
      rule.valid.emplace_back(status, *ttl);
    }
  }
}

// A list of header or cookie names (or one name alone), as written. Header
// names repeat whatever their case; cookie names are case-sensitive.
// `refused`, if given, says why a name may not be listed (or nothing).
std::vector<std::string> read_name_list(
    Context& ctx, const Field& field, std::string_view noun, bool ignore_case,
    const std::function<std::optional<std::string>(std::string_view)>& refused = {}) {
  std::vector<std::string> names;
  std::map<std::string, int> lines;  // compared name -> line first given
  for (const auto& item : one_or_list(ctx.diag, field)) {
    auto name = read_string(ctx.diag, item);
    if (!name) continue;
    if (!valid_token(*name)) {
      ctx.diag.error(item, "invalid " + std::string(noun) + " name " + quote(*name));
      continue;
    }
    if (auto why = refused ? refused(*name) : std::nullopt) {
      ctx.diag.error(item, *why);
      continue;
    }
    auto [first, inserted] =
        lines.emplace(ignore_case ? http::lowercase(*name) : *name, item.mark.line + 1);
    if (!inserted) {
      ctx.diag.error(item, "duplicate " + std::string(noun) + " " + quote(*name) +
                               " (first at line " + std::to_string(first->second) + ")");
      continue;
    }
    names.push_back(std::move(*name));
  }
  return names;
}

// `key:` and `bypass:`: {headers: [...], cookies: [...]}.
void read_cache_names(Context& ctx, const Field& field, std::vector<std::string>& headers,
                      std::vector<std::string>& cookies) {
  MapReader map(ctx.diag, field, {"headers", "cookies"});
  if (const Field* list = map.get("headers")) headers = read_name_list(ctx, *list, "header", true);
  if (const Field* list = map.get("cookies")) cookies = read_name_list(ctx, *list, "cookie", false);
}

// `use_stale: CONDITION` or a list of them, each once.
cache::StaleIfSet read_use_stale(Context& ctx, const Field& field) {
  cache::StaleIfSet values;
  for (const auto& item : one_or_list(ctx.diag, field)) {
    auto value = read_choice(ctx.diag, item, Choices<cache::StaleIf>(kUseStale));
    if (!value) continue;
    if (values.has(*value)) {
      ctx.diag.error(item, quote(item.node.Scalar()) + " is listed twice");
      continue;
    }
    values.add(*value);
  }
  return values;
}

// `cache: ZONE` or `cache: {zone: ZONE, ...}`. The zone's name is noted in
// `zone_uses` for route `route`, to be checked once the zones are all read.
void read_cache_rule(Context& ctx, const Field& field, std::size_t route,
                     std::vector<NameUse>& zone_uses, cache::RuleConfig& rule) {
  // `cache: main` is `cache: {zone: main}`.
  if (field.node.IsScalar()) {
    if (auto zone = read_string(ctx.diag, field)) {
      rule.zone = *zone;
      zone_uses.push_back({route, field});
    }
    return;
  }
  MapReader map(ctx.diag, field,
                {"zone", "ttl", "valid", "override", "query", "key", "bypass",
                 "store_set_cookie", "honor_client_no_cache", "use_stale", "lock_timeout",
                 "lock_max_waiters", "background_update_timeout", "targeted_fields",
                 "range_fill_max"});
  if (!map.valid()) return;
  if (const Field* zone = map.require("zone")) {
    if (auto name = read_string(ctx.diag, *zone)) {
      rule.zone = *name;
      zone_uses.push_back({route, *zone});
    }
  }
  map.read_duration("ttl", rule.ttl);
  if (const Field* valid = map.get("valid")) read_cache_valid(ctx, *valid, rule);
  map.read_bool("override", rule.override);
  map.read_choice("query", rule.query, Choices<cache::RuleConfig::Query>(kCacheQueries));
  if (const Field* key = map.get("key")) {
    read_cache_names(ctx, *key, rule.key_headers, rule.key_cookies);
  }
  if (const Field* bypass = map.get("bypass")) {
    read_cache_names(ctx, *bypass, rule.bypass_headers, rule.bypass_cookies);
  }
  map.read_bool("store_set_cookie", rule.store_set_cookie);
  map.read_bool("honor_client_no_cache", rule.honor_client_no_cache);
  if (const Field* use_stale = map.get("use_stale")) {
    rule.use_stale = read_use_stale(ctx, *use_stale);
  }
  map.read_duration("lock_timeout", rule.lock_timeout, Duration{1});
  map.read_int("lock_max_waiters", rule.lock_max_waiters, 1, kMaxLockWaiters);
  map.read_duration("background_update_timeout", rule.background_update_timeout, Duration{1});
  // RFC 9213 targeted fields, in order; `[]` turns them off.
  if (const Field* targeted = map.get("targeted_fields")) {
    rule.targeted_fields = read_name_list(ctx, *targeted, "header", true);
  }
  map.read_size("range_fill_max", rule.range_fill_max, 0, kMaxSize);
}

// ---------------------------------------------------------------------------
// Request fields a route strips
// ---------------------------------------------------------------------------

// Fields the gateway needs to forward a request at all: never stripped.
constexpr std::string_view kUnstrippable[] = {"Host", "Content-Length", "Transfer-Encoding"};

// The names of `strip_request_headers` (or of its `headers:`), added to
// `route.strip_request_headers` unless already there (the defaults).
void add_stripped_names(Context& ctx, const Field& field, RouteConfig& route) {
  const bool empty_list = field.node.IsSequence() && field.node.size() == 0;
  if (empty_list) {
    ctx.diag.error(field, "an empty list adds nothing to the fields stripped by default; write "
                          "{defaults: false} to strip none");
    return;
  }
  auto unstrippable = [](std::string_view name) -> std::optional<std::string> {
    for (auto needed : kUnstrippable)
      if (http::iequals(needed, name)) return quote(name) + " cannot be stripped: the gateway needs it to forward requests";
    return std::nullopt;
  };
  auto& names = route.strip_request_headers;
  for (auto& name : read_name_list(ctx, field, "header", true, unstrippable)) {
    auto same = [&](std::string_view other) { return http::iequals(other, name); };
    if (std::none_of(names.begin(), names.end(), same)) names.push_back(std::move(name));
  }
}

// `strip_request_headers: NAME` or a list: stripped besides the defaults
// (kStrippedRequestHeaders). `{defaults: false, headers: [...]}`: only the
// listed ones (none without `headers`).
void read_strip_request_headers(Context& ctx, const Field& field, RouteConfig& route) {
  if (!field.node.IsMap()) {
    add_stripped_names(ctx, field, route);
    return;
  }
  MapReader map(ctx.diag, field, {"defaults", "headers"});
  if (!map.valid()) return;
  bool defaults = true;
  map.read_bool("defaults", defaults);
  if (!defaults) route.strip_request_headers.clear();
  if (const Field* headers = map.get("headers")) add_stripped_names(ctx, *headers, route);
}

// `upgrade: [websocket]`: the protocols a client may switch to through the
// route (gateway/upgrade.hpp), as Upgrade names them, kept lowercase.
// h2c is refused: its HTTP2-Settings field is hop-by-hop, and HTTP/2 to
// clients is the listener's business, not a tunnel's.
std::vector<std::string> read_upgrade(Context& ctx, const Field& field) {
  if (field.node.IsSequence() && field.node.size() == 0) {
    ctx.diag.error(field, "must list at least one protocol (or leave upgrade out)");
    return {};
  }
  auto refused = [](std::string_view name) -> std::optional<std::string> {
    if (http::iequals(name, "h2c")) return "h2c cannot be tunnelled (HTTP/2 is the listener's, not a route's)";
    return std::nullopt;
  };
  auto names = read_name_list(ctx, field, "protocol", true, refused);
  for (auto& n : names) n = http::lowercase(n);
  return names;
}

// ---------------------------------------------------------------------------
// A route
// ---------------------------------------------------------------------------

// What the route does: the keys among upstream, page, aggregate, redirect
// and static it gives.
struct KindKeys {
  const Field* upstream;
  const Field* page;
  const Field* aggregate;
  const Field* redirect;
  const Field* static_files;

  bool one() const {
    return (upstream != nullptr) + (page != nullptr) + (aggregate != nullptr) + (redirect != nullptr) +
               (static_files != nullptr) ==
           1;
  }
  bool proxies() const { return one() && upstream != nullptr; }
  // For messages about options only a proxy route takes; one() and not proxies().
  std::string not_proxy() const {
    return page ? "a page route" : aggregate ? "an aggregate route" : redirect ? "a redirect route" : "a static route";
  }
  // ... and where the option goes instead: " (the routes its fragments go
  // through <what>)", nothing for a redirect.
  std::string instead(std::string_view what) const {
    if (redirect || static_files) return "";
    return std::string(" (the routes its ") + (page ? "fragments" : "parts") + " go through " + std::string(what) + ")";
  }
};

// Exactly one of upstream, page, aggregate, redirect and static. The upstream's
// name is noted in refs.upstreams, to be checked once the upstreams are
// all read.
void read_kind(Context& ctx, const Field& field, const KindKeys& kinds, std::size_t index,
               RouteRefs& refs, RouteConfig& route) {
  std::string given;
  for (auto [key, present] : {std::pair{"upstream", kinds.upstream != nullptr},
                              std::pair{"page", kinds.page != nullptr},
                              std::pair{"aggregate", kinds.aggregate != nullptr},
                              std::pair{"redirect", kinds.redirect != nullptr},
                              std::pair{"static", kinds.static_files != nullptr}}) {
    if (present) given += std::string(given.empty() ? "" : " and ") + key;
  }
  if (given.empty()) {
    // (" (or static)" after the older list, which messages and tests know.)
    ctx.diag.error(field, "missing required key \"upstream\", \"page\", \"aggregate\" or \"redirect\" (or \"static\")");
  } else if (!kinds.one()) {
    ctx.diag.error(field, "give one of upstream, page, aggregate or redirect, not " + given + " (or static)");
  } else if (kinds.upstream) {
    route.kind = RouteConfig::Kind::proxy;
    if (auto name = read_string(ctx.diag, *kinds.upstream)) {
      route.upstream = *name;
      refs.upstreams.push_back({index, *kinds.upstream});
    }
  } else if (kinds.page) {
    route.kind = RouteConfig::Kind::page;
    read_page(ctx, *kinds.page, route, route.page.emplace());
  } else if (kinds.aggregate) {
    route.kind = RouteConfig::Kind::aggregate;
    read_aggregate(ctx, *kinds.aggregate, route, route.aggregate.emplace());
  } else if (kinds.redirect) {
    route.kind = RouteConfig::Kind::redirect;
    read_redirect(ctx, *kinds.redirect, route.redirect.emplace());
  } else {
    route.kind = RouteConfig::Kind::static_files;
    read_static(ctx, *kinds.static_files, route.static_files.emplace());
  }
}

// strip_prefix, name, strip_request_headers and cache: strip_prefix needs a
// prefix and a proxy or static route (there it is nginx's alias), the
// others but name a proxy route.
void read_options(Context& ctx, const MapReader& map, const Field& field, const KindKeys& kinds,
                  std::size_t index, RouteRefs& refs, RouteConfig& route) {
  if (map.get("strip_prefix") && !map.get("prefix")) {
    ctx.diag.error(*map.key_mark("strip_prefix"),
                   field.path + ": strip_prefix needs a prefix route");
  } else if (map.get("strip_prefix") && kinds.one() && !kinds.proxies() && !kinds.static_files) {
    ctx.diag.error(*map.key_mark("strip_prefix"),
                   field.path + ": strip_prefix needs an upstream or a static root, not " + kinds.not_proxy());
  } else {
    map.read_bool("strip_prefix", route.strip_prefix);
  }

  route.name = route.prefix.empty() ? route.path : route.prefix;
  map.read_string("name", route.name);

  if (const Field* strip = map.get("strip_request_headers")) {
    if (kinds.one() && !kinds.proxies()) {
      ctx.diag.error(*map.key_mark("strip_request_headers"),
                     field.path + ": strip_request_headers needs an upstream, not " + kinds.not_proxy() +
                         kinds.instead("strip theirs"));
    } else {
      read_strip_request_headers(ctx, *strip, route);
    }
  }

  if (const Field* upgrade = map.get("upgrade")) {
    if (kinds.one() && !kinds.proxies()) {
      ctx.diag.error(*map.key_mark("upgrade"), field.path + ": upgrade needs an upstream, not " + kinds.not_proxy());
    } else {
      route.upgrade = read_upgrade(ctx, *upgrade);
    }
  }

  if (const Field* cache = map.get("cache")) {
    if (kinds.one() && !kinds.proxies()) {
      ctx.diag.error(*map.key_mark("cache"),
                     field.path + ": cache needs an upstream, not " + kinds.not_proxy() +
                         kinds.instead("cache them"));
    } else {
      read_cache_rule(ctx, *cache, index, refs.zones, route.cache.emplace());
    }
  }
}

void read_route(Context& ctx, const Field& field, std::vector<RouteConfig>& routes,
                RouteRefs& refs) {
  MapReader map(ctx.diag, field,
                {"prefix", "path", "host", "scheme", "upstream", "page", "aggregate", "redirect",
                 "strip_prefix", "name", "strip_request_headers", "cache", "headers", "upgrade", "static",
                 "error_pages", "access", "auth", "rewrite", "limit", "compress"});
  if (!map.valid()) return;
  const std::size_t index = routes.size();
  RouteConfig route;
  route.line = field.mark.line + 1;
  read_match(ctx, map, field, route);
  if (const Field* hosts = map.get("host")) route.hosts = read_hosts(ctx, *hosts);
  map.read_choice("scheme", route.scheme, Choices<RouteConfig::Scheme>(kSchemes));
  const KindKeys kinds{map.get("upstream"), map.get("page"), map.get("aggregate"), map.get("redirect"),
                       map.get("static")};
  read_kind(ctx, field, kinds, index, refs, route);
  read_options(ctx, map, field, kinds, index, refs, route);
  if (const Field* headers = map.get("headers"))
    read_header_rules(ctx, *headers, kinds.one() && !kinds.proxies() ? kinds.not_proxy() : "", route.headers);
  read_route_access(ctx, map, field, kinds.one() && !kinds.proxies() ? kinds.not_proxy() : "", route);
  if (const Field* pages = map.get("error_pages")) read_error_pages(ctx, *pages, true, route.error_pages.emplace());
  if (const Field* limit = map.get("limit")) read_rate_limit(ctx, *limit, route.limit);
  if (const Field* compress = map.get("compress")) read_compress(ctx, *compress, route.compress.emplace());
  routes.push_back(std::move(route));
  refs.route_fields.push_back(field);
}

}  // namespace

void read_routes(Context& ctx, const Field& field, std::vector<RouteConfig>& routes,
                 RouteRefs& refs) {
  if (!expect_type(ctx.diag, field, YAML::NodeType::Sequence)) return;
  auto items = sequence_items(field);
  if (items.empty()) ctx.diag.error(field, "must list at least one route");
  for (const auto& item : items) read_route(ctx, item, routes, refs);
}

}  // namespace gateway::config
