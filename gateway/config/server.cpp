// The server's own sections of the configuration: where it listens
// (`listen`, with each listener's `tls` read in tls.cpp; `admin`), how many worker threads it runs (`workers`), where its
// access log goes (`access_log`), and what it bounds (`limits`, `timeouts`).
// The other sections and the top-level load are listed in sections.hpp.
#include "gateway/config/sections.hpp"

#include <boost/asio/ip/address.hpp>

#include <algorithm>
#include <cstdint>
#include <optional>

namespace gateway::config {

namespace {

constexpr int kMaxWorkers = 256;
constexpr std::uint64_t kMaxHeaderBytes = 64ull << 20;

struct TimeoutKey {
  std::string_view key;
  Duration Timeouts::*field;
  Duration min;
};

// keepalive 0 turns client keep-alive off; the others must leave some time.
constexpr TimeoutKey kTimeoutKeys[] = {
    {"client_header", &Timeouts::client_header, Duration{1}},
    {"client_body", &Timeouts::client_body, Duration{1}},
    {"keepalive", &Timeouts::keepalive, Duration{0}},
    {"upstream_connect", &Timeouts::upstream_connect, Duration{1}},
    {"upstream_read", &Timeouts::upstream_read, Duration{1}},
    {"upstream_send", &Timeouts::upstream_send, Duration{1}},
    {"client_send", &Timeouts::client_send, Duration{1}},
    {"shutdown", &Timeouts::shutdown, Duration{0}},
    {"tunnel_idle", &Timeouts::tunnel_idle, Duration{1}},
    {"tunnel_drain", &Timeouts::tunnel_drain, Duration{0}},
};

// `http2: true|false` (TLS listeners; default true) and `h2c: true|false`
// (plain listeners; default false).
void read_listen_http2(Context& ctx, const MapReader& map, ListenConfig& entry) {
  map.read_bool("http2", entry.http2);
  map.read_bool("h2c", entry.h2c);
  if (entry.h2c && map.get("tls")) ctx.diag.error(*map.get("h2c"), "h2c is HTTP/2 without TLS: not on a TLS listener");
}

}  // namespace

// `listen: ENTRY` or a list of them; an entry is an address, or a map
// {address, tls, proxy_protocol} (read with a MapReader: other per-listener
// options go next to these). What is read replaces the
// default.
// A listener is known by its address as written: a reload keeps the
// sockets of an entry it still lists, bound to what a host name resolved to
// when first bound. Only a restart (or removing the entry and adding it
// back in a later reload) resolves it again.
void warn_if_host_name(Context& ctx, const Field& field, const Endpoint& endpoint) {
  boost::system::error_code ec;
  boost::asio::ip::make_address(endpoint.host, ec);
  if (ec)
    ctx.diag.warning(field, "host name " + quote(endpoint.host) +
                                " is resolved when the listener is first bound; a reload keeps that address "
                                "(it cannot change while the gateway runs: write an IP address)");
}

void read_listen(Context& ctx, const Field& field, std::vector<ListenConfig>& listen) {
  auto items = field.node.IsMap() ? std::vector<Field>{field} : one_or_list(ctx.diag, field);
  if (field.node.IsSequence() && items.empty()) {
    ctx.diag.error(field, "must list at least one address");
  }
  if (items.empty()) return;

  listen.clear();
  for (const auto& item : items) {
    const Field* address = &item;
    std::optional<MapReader> map;
    if (item.node.IsMap()) {
      constexpr std::string_view kKeys[] = {"address", "tls", "http2", "h2c", "proxy_protocol"};
      map.emplace(ctx.diag, item, kKeys);
      address = map->require("address");
      if (address == nullptr) continue;
    }
    auto endpoint = read_endpoint(ctx.diag, *address, true);
    if (!endpoint) continue;
    // Port 0 asks the OS for a fresh port each time, so it may repeat.
    bool repeated = endpoint->port != 0 &&
                    std::any_of(listen.begin(), listen.end(),
                                [&](const ListenConfig& l) { return same_endpoint(l.address, *endpoint); });
    if (repeated) {
      ctx.diag.error(*address, "address " + quote(endpoint->text) + " is listed twice");
      continue;
    }
    warn_if_host_name(ctx, *address, *endpoint);
    ListenConfig entry{std::move(*endpoint), std::nullopt};
    if (map) read_listen_http2(ctx, *map, entry);
    if (const Field* tls = map ? map->get("tls") : nullptr) {
      entry.tls.emplace().offer_h2 = entry.http2;
      read_server_tls(ctx, *tls, entry.address.text, *entry.tls);
    }
    if (map) map->read_bool("proxy_protocol", entry.proxy_protocol);
    listen.push_back(std::move(entry));
  }
}

// `http2: {...}`: the limits of HTTP/2 client connections.
void read_http2(Context& ctx, const Field& field, Http2Config& h2) {
  MapReader map(ctx.diag, field,
                {"max_concurrent_streams", "hpack_table_bytes", "initial_window_bytes", "connection_window_bytes",
                 "max_continuations", "reset_burst", "reset_rate", "control_burst", "control_rate"});
  constexpr long long kMaxWindow = 0x7fffffff;
  map.read_int("max_concurrent_streams", h2.max_concurrent_streams, 1, 10'000);
  map.read_size("hpack_table_bytes", h2.hpack_table_bytes, 0, 1u << 20);
  map.read_size("initial_window_bytes", h2.initial_window_bytes, 65535, 16u << 20);
  map.read_size("connection_window_bytes", h2.connection_window_bytes, 65535, kMaxWindow);
  map.read_int("max_continuations", h2.max_continuations, 0, 1000);
  map.read_int("reset_burst", h2.reset_burst, 1, 1'000'000);
  map.read_int("reset_rate", h2.reset_rate, 0, 1'000'000);
  map.read_int("control_burst", h2.control_burst, 1, 1'000'000);
  map.read_int("control_rate", h2.control_rate, 0, 1'000'000);
}

// `workers: auto` (one per core, 0) or a count.
void read_workers(Context& ctx, const Field& field, int& workers) {
  if (field.node.IsScalar() && field.node.Scalar() == "auto") {
    workers = 0;
    return;
  }
  if (auto n = read_integer(ctx.diag, field, 1, kMaxWorkers)) workers = static_cast<int>(*n);
}

void read_admin(Context& ctx, const Field& field, AdminConfig& admin) {
  MapReader map(ctx.diag, field, {"listen", "auth"});
  if (const Field* auth = map.get("auth")) read_auth(ctx, *auth, admin.auth);
  if (const Field* listen = map.require("listen")) {
    admin.listen = read_endpoint(ctx.diag, *listen, true);
    if (admin.listen) warn_if_host_name(ctx, *listen, *admin.listen);
  }
}

// `stdout`, `off`, or a file path relative to the configuration's directory;
// or a map {path: one of those, format: combined|json}.
void read_access_log(Context& ctx, const Field& field, std::string& access_log, AccessLogFormat& format) {
  const Field* target = &field;
  std::optional<MapReader> map;
  if (field.node.IsMap()) {
    map.emplace(ctx.diag, field, std::initializer_list<std::string_view>{"path", "format"});
    constexpr std::pair<std::string_view, AccessLogFormat> kFormats[] = {{"combined", AccessLogFormat::combined},
                                                                         {"json", AccessLogFormat::json}};
    map->read_choice("format", format, Choices<AccessLogFormat>(kFormats));
    target = map->require("path");
    if (target == nullptr) return;
  }
  auto value = read_string(ctx.diag, *target);
  if (!value) return;
  if (*value == "stdout" || *value == "off") {
    access_log = *value;
    return;
  }
  access_log = resolve_path(ctx, *value).string();
}

void read_limits(Context& ctx, const Field& field, Limits& limits) {
  MapReader map(ctx.diag, field, {"header_bytes", "uri_bytes", "body_bytes", "headers"});
  map.read_size("header_bytes", limits.header_bytes, 1, kMaxHeaderBytes);
  map.read_size("uri_bytes", limits.uri_bytes, 1, kMaxHeaderBytes);
  map.read_size("body_bytes", limits.body_bytes, 0, kMaxSize);
  map.read_int("headers", limits.headers, 1, 10'000);
}

void read_timeouts(Context& ctx, const Field& field, Timeouts& timeouts) {
  std::vector<std::string_view> keys;
  for (const auto& timeout : kTimeoutKeys) keys.push_back(timeout.key);
  MapReader map(ctx.diag, field, keys);
  for (const auto& timeout : kTimeoutKeys) {
    map.read_duration(timeout.key, timeouts.*timeout.field, timeout.min);
  }
}

}  // namespace gateway::config
