// The gateway's configuration: one YAML file parsed once into plain, validated
// structs. A Config is immutable once loaded and shared as
// shared_ptr<const Config>; SIGHUP builds a new one and swaps it in.
//
// Loading never throws for bad input: every problem becomes a ConfigError
// carrying file:line:column, and all of them are reported together.
//
// The loader: gateway/config.cpp reads the file and checks across sections;
// gateway/config/yaml.* is its YAML layer, and one file per section under
// gateway/config/ reads the rest (gateway/config/sections.hpp lists them).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/net/tls_version.hpp"
#include "base/units.hpp"
#include "cache/config.hpp"
#include "gateway/access.hpp"
#include "gateway/compress_rules.hpp"
#include "gateway/edge_rules.hpp"
#include "gateway/rewrite.hpp"
#include "gateway/error_pages.hpp"
#include "gateway/static_files.hpp"
#include "gateway/rate_limit.hpp"
#include "upstreams/config.hpp"

namespace gateway {

struct ConfigError {
  std::string file;
  int line = 0;    // 1-based
  int column = 0;  // 1-based
  std::string message;
  std::string to_string() const;  // "file:line:col: message"
};

struct Limits {
  std::size_t header_bytes = 16 * 1024;
  std::size_t uri_bytes = 8 * 1024;
  std::uint64_t body_bytes = 10 * 1024 * 1024;
  std::size_t headers = 100;
};

struct Timeouts {
  Duration client_header{10'000};
  Duration client_body{30'000};
  Duration keepalive{60'000};
  Duration upstream_connect{1'000};
  Duration upstream_read{30'000};
  Duration upstream_send{30'000};
  Duration client_send{60'000};  // a client that reads nothing for this long is dropped
  Duration shutdown{10'000};  // SIGTERM drain deadline
  // A WebSocket (or other upgraded) tunnel with no byte either way for this
  // long is closed. 5 minutes, Envoy's stream idle timeout: a chat open in a
  // tab with nobody typing outlives nginx's 60 s proxy_read_timeout (the
  // usual complaint), and a peer gone without a FIN still frees its
  // descriptor in minutes, not hours.
  Duration tunnel_idle{300'000};
  // SIGTERM: open tunnels get this long to finish what is in flight, then
  // are closed (the gateway cannot send WebSocket's 1001 Going Away; clients
  // reconnect). Bounded by `shutdown` too.
  Duration tunnel_drain{2'000};
};

namespace page {
struct Template;  // gateway/compose/template.hpp
}

// A route's `page:` block: an HTML template whose includes are fetched in
// parallel through the routes and stitched in order.
struct PageConfig {
  std::string template_path;  // absolute; relative paths resolve against the config file
  std::shared_ptr<const page::Template> parsed;  // parsed at load: errors are config errors
  Duration timeout{2'000};    // default per-fragment timeout
  int max_depth = 3;          // nested includes in fragments
  std::size_t max_fragment_bytes = 1 << 20;
};

// One part of an `aggregate:` route.
struct AggregatePart {
  std::string key;   // the JSON key
  std::string path;  // with {params} of the route's path
  bool required = false;
  std::optional<Duration> timeout;
};

struct AggregateConfig {
  std::vector<AggregatePart> parts;  // in file order
  Duration timeout{2'000};           // default per part
  std::size_t max_part_bytes = 1 << 20;
};

// The request fields a proxy route strips by default (the route's
// `strip_request_headers` adds to them, or `{defaults: false}` drops them).
// Each lets a client make an instance build its response for another URL or
// host than the one the cache keys it under, a page the cache would then
// serve to everyone (cache poisoning through unkeyed fields):
// X-Original-URL and X-Rewrite-URL name the URL to serve (IIS URL Rewrite,
// Symfony, Zend honour them); Forwarded (RFC 7239) claims the host and
// scheme the request came for, which the gateway states itself in
// X-Forwarded-Host and X-Forwarded-Proto, replacing the client's.
inline constexpr std::array<std::string_view, 3> kStrippedRequestHeaders = {"X-Original-URL", "X-Rewrite-URL",
                                                                            "Forwarded"};

struct RouteConfig {
  enum class Kind { proxy, page, aggregate, redirect, static_files };
  Kind kind = Kind::proxy;
  // `scheme: http|https`: the route is for requests over plain TCP or TLS
  // only, and the router tries such routes first (gateway/router.hpp).
  enum class Scheme { any, http, https };
  Scheme scheme = Scheme::any;
  std::vector<std::string> hosts;  // empty: any host
  std::string prefix;              // match by longest prefix ...
  std::string path;                // ... or by a path pattern with {params}
  bool strip_prefix = false;
  std::string upstream;            // proxy: upstream group name
  std::size_t upstream_index = 0;  // index into Config::upstreams, resolved at load
  std::string name;                // for logs and metrics; defaults to prefix or path
  std::optional<cache::RuleConfig> cache;
  // Protocols a client may switch to through this route (`upgrade:
  // [websocket]`), lowercase; empty: Upgrade is dropped (gateway/upgrade.hpp).
  std::vector<std::string> upgrade;
  // Request fields never forwarded upstream: kStrippedRequestHeaders and
  // those the route adds, as written (compared without case).
  std::vector<std::string> strip_request_headers =
      std::vector<std::string>(kStrippedRequestHeaders.begin(), kStrippedRequestHeaders.end());
  std::optional<PageConfig> page;            // kind page
  std::optional<AggregateConfig> aggregate;  // kind aggregate
  std::optional<edge::RedirectConfig> redirect;  // kind redirect
  std::optional<StaticConfig> static_files;      // kind static_files (`static:`, gateway/static_files.hpp)
  std::optional<ErrorPages> error_pages;         // `error_pages:` (gateway/error_pages.hpp); none: Config's
  edge::HeaderRules headers;       // `headers:` (gateway/edge_rules.hpp)
  access::AccessConfig access;     // `access:`, `auth:` (gateway/access.hpp); unset: the top level's
  std::vector<rewrite::Rule> rewrite;  // `rewrite:` of the path sent upstream (gateway/rewrite.hpp)
  std::optional<limit::RateLimitConfig> limit;  // `limit:`, else Config::limit (gateway/rate_limit.hpp)
  std::optional<compress::CompressConfig> compress;  // `compress:`; none: the top-level one (compress_rules.hpp)
  int line = 0;                    // where it was defined, for messages
};

struct AdminConfig {
  std::optional<Endpoint> listen;
  std::optional<access::AuthConfig> auth;  // `auth:` (gateway/access.hpp)
};

namespace tls {
class ServerContext;  // gateway/tls.hpp
}

// One certificate of a TLS listener: its chain, its key, and optionally a
// DER OCSP response to staple. Absolute paths.
struct TlsCertificateConfig {
  std::string cert;
  std::string key;
  std::string ocsp;  // empty: no stapling
};

// A listener's `tls:` block. The first certificate is the default; others
// are chosen by SNI from the names they carry (gateway/tls.hpp).
struct TlsConfig {
  // The defaults: Mozilla's "intermediate" TLS 1.2 list without DHE (no
  // DH parameters to configure); OpenSSL's TLS 1.3 suites.
  static constexpr std::string_view kDefaultCiphers =
      "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
      "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
  static constexpr std::string_view kDefaultCiphersuites =
      "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256";

  std::vector<TlsCertificateConfig> certificates;
  net::TlsVersion min_version = net::TlsVersion::tls1_2;
  net::TlsVersion max_version = net::TlsVersion::tls1_3;
  std::string ciphers{kDefaultCiphers};            // TLS 1.2 (OpenSSL cipher list)
  std::string ciphersuites{kDefaultCiphersuites};  // TLS 1.3
  bool session_tickets = true;
  // Tickets sent after a full handshake and after each resumption (TLS
  // 1.3; OpenSSL's default is 2, nginx's too). Each costs the server a
  // session encoding, a key derivation and an encryption, about 6% of a
  // full handshake; a client resumes one connection per ticket it holds,
  // and gets a new one each time.
  int tickets_per_handshake = 1;
  // ALPN offers "h2" before "http/1.1" (the listener's `http2`).
  bool offer_h2 = false;
  // Built at load from the above (so --check and a reload see every
  // problem with a file); shared by every connection made with it.
  std::shared_ptr<const tls::ServerContext> context;
};

// One `listen` entry: "ADDRESS" or {address, tls, http2, h2c, proxy_protocol}.
struct ListenConfig {
  Endpoint address;
  std::optional<TlsConfig> tls;
  bool http2 = true;  // TLS: HTTP/2 by ALPN "h2"
  bool h2c = false;   // plain: HTTP/2 with prior knowledge (the client preface)
  // Each connection starts with a PROXY protocol header (v1 or v2), read
  // before anything else; its source address is the connection's client.
  bool proxy_protocol = false;
};

// The `http2:` block: what one HTTP/2 client connection may hold and do
// (gateway/h2/). The header list is bounded by limits.header_bytes and
// limits.headers, as an HTTP/1.1 head is.
struct Http2Config {
  std::uint32_t max_concurrent_streams = 128;
  std::uint32_t hpack_table_bytes = 4096;
  std::uint32_t initial_window_bytes = 65535;      // per stream, request bodies
  std::uint32_t connection_window_bytes = 1 << 20;  // all of a connection's request bodies
  std::uint32_t max_continuations = 8;             // CONTINUATION frames per header block
  // Streams reset by the client (RST_STREAM): `reset_burst` at once, then
  // `reset_rate` per second; beyond, GOAWAY (rapid reset, CVE-2023-44487).
  std::uint32_t reset_burst = 200;
  std::uint32_t reset_rate = 33;
  // PING and SETTINGS frames from the client, the same way.
  std::uint32_t control_burst = 100;
  std::uint32_t control_rate = 10;
};

// How the access log writes a line (gateway/access_log_format.hpp).
enum class AccessLogFormat { combined, json };

struct Config {
  std::string file;  // absolute path of the file loaded
  std::vector<ListenConfig> listen;
  int workers = 0;  // 0: one per core
  AdminConfig admin;
  std::string access_log = "stdout";  // stdout | off | a file path
  // Issue 12 (service): `access_log: {path, format: json|combined}`.
  AccessLogFormat access_log_format = AccessLogFormat::combined;
  Limits limits;
  Timeouts timeouts;
  Http2Config http2;
  std::vector<cache::ZoneConfig> caches;
  std::vector<upstreams::GroupConfig> upstreams;
  std::vector<RouteConfig> routes;
  // Peers whose X-Forwarded-For is believed (gateway/edge_rules.hpp,
  // client_address); empty: nobody's.
  std::vector<net::Cidr> trusted_proxies;
  // H2: the DNS servers `resolve:` asks (nginx's resolver); empty: the
  // system's (/etc/resolv.conf, /etc/hosts).
  std::vector<Endpoint> resolver;
  access::AccessConfig access;         // top-level `access:`, `auth:`: every route's default (gateway/access.hpp)
  std::vector<rewrite::Rule> rewrite;  // top-level `rewrite:`, before routing (gateway/rewrite.hpp)
  // `error_pages:`, the default of every route without its own (gateway/error_pages.hpp).
  ErrorPages error_pages;
  std::optional<limit::RateLimitConfig> limit;  // top-level `limit:`: routes without their own
  std::size_t max_conns_per_client = 0;  // open connections per peer address; 0: no limit (rate_limit.hpp)
  compress::CompressConfig compress;  // top-level `compress:`, for routes without their own

  // The listen entry with this address text, or null.
  const ListenConfig* find_listen(std::string_view address) const noexcept {
    for (const auto& l : listen)
      if (l.address.text == address) return &l;
    return nullptr;
  }
};

struct LoadResult {
  std::shared_ptr<const Config> config;  // null if errors is not empty
  std::vector<ConfigError> errors;
  // Keys that load but cannot change while the gateway runs ("warning: ..."
  // messages): --check prints them, a reload logs them.
  std::vector<ConfigError> warnings;
};

LoadResult load_config(const std::string& path);
// YAML text as if it came from `file`: relative paths in it resolve against
// that file's directory, and errors name it. load_config reads the file and
// calls this.
LoadResult load_config_from_string(const std::string& yaml, const std::string& file = "<string>");

}  // namespace gateway
