// The configuration loader's upper layer: one reader per section of the
// file, each filling its part of the Config from the YAML layer's Fields
// (gateway/config/yaml.hpp). Where each section is read:
//
//   gateway/config.cpp            the top level: reading the file, the table
//                                 of sections, the checks across sections
//                                 (a route naming an unknown upstream or zone,
//                                 two routes that match the same requests)
//   gateway/config/yaml.*         the YAML layer all of them use
//   gateway/config/server.cpp     listen, workers, admin, access_log, limits,
//                                 timeouts
//   gateway/config/upstreams.cpp  upstreams: instances, weights, failures,
//                                 health checks
//   gateway/config/caches.cpp     caches: zones and their shared Redis tier
//   gateway/config/routes.cpp     routes: what a route matches, what it does,
//                                 and its cache rule (`cache:`)
//   gateway/config/pages.cpp      a route's page (its template, read and
//                                 parsed at load) or aggregate (its parts)
//   gateway/config/edge.cpp       the edge rules: a route's `headers:` and
//                                 `redirect:`, `trusted_proxies`
//   gateway/config/static.cpp    a route's `static:` (its root opened at load)
//   gateway/config/error_pages.cpp `error_pages:`, top level and a route's
//   gateway/config/tls.cpp        the `tls:` blocks of listeners and upstream
//                                 groups (certificates read and OpenSSL
//                                 contexts built at load)
//
// Free functions rather than one Loader class spread over these files: each
// reader's signature says what it reads and what it fills (the upstreams
// reader sees the diagnostics and the groups, nothing else), and the helpers
// of a section stay private to its file. A reader reports every problem and
// goes on; what it could not read keeps its default.
//
// Runs on the thread that loads the configuration, never on the request path.
#pragma once

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/http/message.hpp"
#include "gateway/config.hpp"
#include "gateway/config/yaml.hpp"

namespace gateway::config {

// What every section reader is given: where problems go, and the directory
// relative paths in the file resolve against (the configuration file's).
struct Context {
  Diagnostics& diag;
  std::filesystem::path dir;
};

// Where a route names an upstream or a cache zone, for the checks that run
// once every section is read.
struct NameUse {
  std::size_t route;  // index into Config::routes
  Field field;
};

// What the routes section leaves for the checks across sections.
struct RouteRefs {
  std::vector<Field> route_fields;  // parallel to Config::routes
  std::vector<NameUse> upstreams;
  std::vector<NameUse> zones;
};

// --- gateway/config.cpp ---

// --- gateway/config/server.cpp ---
void read_listen(Context& ctx, const Field& field, std::vector<ListenConfig>& listen);
void read_workers(Context& ctx, const Field& field, int& workers);
void read_admin(Context& ctx, const Field& field, AdminConfig& admin);
// `access_log: stdout|off|FILE` or `{path: stdout|off|FILE, format:
// combined|json}`.
void read_access_log(Context& ctx, const Field& field, std::string& access_log, AccessLogFormat& format);
void read_limits(Context& ctx, const Field& field, Limits& limits);
void read_timeouts(Context& ctx, const Field& field, Timeouts& timeouts);
void read_http2(Context& ctx, const Field& field, Http2Config& h2);

// --- gateway/config/upstreams.cpp ---
void read_upstreams(Context& ctx, const Field& field, std::vector<upstreams::GroupConfig>& groups);
// `resolver: ["127.0.0.1:5353", "10.0.0.2"]`: DNS servers (IP, port 53 by default).
void read_resolver(Context& ctx, const Field& field, std::vector<Endpoint>& servers);

// --- gateway/config/caches.cpp ---
// A zone is checked against the zones before it (no shared directory, no
// mixed keys on one Redis), so zones are appended one by one.
void read_caches(Context& ctx, const Field& field, std::vector<cache::ZoneConfig>& zones);

// --- gateway/config/routes.cpp ---
void read_routes(Context& ctx, const Field& field, std::vector<RouteConfig>& routes,
                 RouteRefs& refs);

// --- gateway/config/pages.cpp ---
// `route` is read up to its kind: its prefix or path pattern gives the
// parameters the page's includes or the aggregate's parts may use.
void read_page(Context& ctx, const Field& field, const RouteConfig& route, PageConfig& page);
void read_aggregate(Context& ctx, const Field& field, const RouteConfig& route,
                    AggregateConfig& aggregate);

// --- gateway/config/edge.cpp ---
// A route's `headers:`; `not_proxy` names the route's kind if it has no
// upstream (its request edits would go nowhere), else is empty.
void read_header_rules(Context& ctx, const Field& field, std::string_view not_proxy, edge::HeaderRules& rules);
// A route's `redirect: URL` or `redirect: {to, status}`.
void read_redirect(Context& ctx, const Field& field, edge::RedirectConfig& redirect);
// `trusted_proxies: [CIDR, ...]`.
void read_trusted_proxies(Context& ctx, const Field& field, std::vector<net::Cidr>& ranges);

// --- gateway/config/rate_limit.cpp ---
// `limit: {rate, burst, nodelay, delay, key, status, max_keys}` or `limit: off`,
// a route's or the top-level default (gateway/rate_limit.hpp).
void read_rate_limit(Context& ctx, const Field& field, std::optional<limit::RateLimitConfig>& limit);
// `max_conns_per_client: N` (0: none).
void read_max_conns_per_client(Context& ctx, const Field& field, std::size_t& max);

// --- gateway/config/compress.cpp ---
// `compress: on|off` or `{types, min_bytes, gzip_level, brotli_quality}` (a route's or the top level's).
void read_compress(Context& ctx, const Field& field, compress::CompressConfig& out);

// --- gateway/config/tls.cpp ---
// A listener's `tls:`; `listener` (its address) keeps its sessions apart.
void read_server_tls(Context& ctx, const Field& field, std::string_view listener, TlsConfig& tls);
// An upstream group's `tls:`.
void read_upstream_tls(Context& ctx, const Field& field, upstreams::TlsClientConfig& tls);

// --- gateway/config/access.cpp ---
// `access: [{allow: CIDR|all}, {deny: ...}]` and `auth: {realm, htpasswd, forward} | off` (its file read here).
void read_access_rules(Context& ctx, const Field& field, std::optional<std::vector<access::AddressRule>>& rules);
void read_auth(Context& ctx, const Field& field, std::optional<access::AuthConfig>& auth);
// A route's `access:`, `auth:` and `rewrite:`; `not_proxy` names the route's kind if it has no upstream
// (a rewrite of the path sent upstream would go nowhere), else is empty.
void read_route_access(Context& ctx, const MapReader& map, const Field& field, std::string_view not_proxy,
                       RouteConfig& route);

// --- gateway/config/rewrite.cpp ---
// `rewrite: [{match: REGEX, to: PATH, redirect: 301|302}]`, compiled with RE2.
void read_rewrites(Context& ctx, const Field& field, std::vector<rewrite::Rule>& rules);

// --- gateway/config/static.cpp ---
// A route's `static: {root, index, try_files, fallback, precompressed}`
// (the root is opened at load).
void read_static(Context& ctx, const Field& field, StaticConfig& config);

// --- gateway/config/error_pages.cpp ---
// `error_pages: {404: FILE, 5xx: FILE}`, top level or a route's (`route`:
// `intercept` allowed); the files are read at load.
void read_error_pages(Context& ctx, const Field& field, bool route, ErrorPages& pages);

// --- what more than one section uses ---

// The largest size a key may take where it has no bound of its own.
inline constexpr std::uint64_t kMaxSize = std::numeric_limits<std::uint64_t>::max();

// Absolute and normal: `text` as written, relative to the configuration's
// directory.
inline std::filesystem::path resolve_path(const Context& ctx, std::string_view text) {
  std::filesystem::path path(text);
  if (path.is_relative()) path = ctx.dir / path;
  return path.lexically_normal();
}

// Names of upstreams and cache zones (`noun`): letters, digits, '_', '.',
// '-'. An invalid one is reported; its entry is still read.
inline void check_name(Context& ctx, const Entry& entry, std::string_view noun) {
  const std::string& name = entry.key;
  const bool valid = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  });
  if (!valid) {
    ctx.diag.error(entry.key_mark, "invalid " + std::string(noun) + " name " + quote(entry.key) +
                                       " (letters, digits, '_', '.', '-')");
  }
}

// RFC 9110 token: header field names, and cookie names (RFC 6265).
inline bool valid_token(std::string_view name) {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  });
}

// Host names compare without case.
inline bool same_endpoint(const Endpoint& a, const Endpoint& b) {
  return a.port == b.port && http::lowercase(a.host) == http::lowercase(b.host);
}

}  // namespace gateway::config
