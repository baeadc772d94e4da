// The `upstreams:` section: each group's instances and weights, balancing,
// keep-alive, retries, passive failure counting, the panic threshold,
// active health checks and TLS to the instances (its `tls:` block is read in
// tls.cpp), into upstreams::GroupConfig (upstreams/config.hpp). Routes name
// the groups; those names are checked in gateway/config.cpp once everything
// is read. The other sections are listed in sections.hpp.
#include "gateway/config/sections.hpp"

#include <algorithm>
#include <charconv>
#include <optional>

#include "upstreams/membership.hpp"

namespace gateway::config {

namespace {

constexpr std::pair<std::string_view, upstreams::Balance> kBalances[] = {
    {"round_robin", upstreams::Balance::round_robin},
    {"weighted", upstreams::Balance::weighted},
    {"least_conn", upstreams::Balance::least_conn},
    {"hash", upstreams::Balance::hash},
    {"p2c", upstreams::Balance::p2c},
};

// `instances: [ADDRESS, {address: ADDRESS, weight: N}, ...]`: at least one,
// none twice.
void read_instances(Context& ctx, const Field& field, upstreams::GroupConfig& upstream) {
  if (!expect_type(ctx.diag, field, YAML::NodeType::Sequence)) return;
  auto items = sequence_items(field);
  if (items.empty()) {
    ctx.diag.error(field, "must list at least one instance");
    return;
  }
  std::vector<YAML::Mark> marks;  // parallel to upstream.instances
  for (const auto& item : items) {
    upstreams::InstanceConfig instance;
    const Field* address = &item;
    std::optional<MapReader> map;
    if (item.node.IsMap()) {
      constexpr std::string_view kKeys[] = {"address", "weight"};
      map.emplace(ctx.diag, item, kKeys);
      address = map->require("address");
      map->read_int("weight", instance.weight, 1, 1'000);
    }
    if (address == nullptr) continue;
    auto endpoint = read_endpoint(ctx.diag, *address, false);
    if (!endpoint) continue;
    instance.address = std::move(*endpoint);

    auto first = std::find_if(upstream.instances.begin(), upstream.instances.end(),
                              [&](const upstreams::InstanceConfig& other) {
                                return same_endpoint(other.address, instance.address);
                              });
    if (first != upstream.instances.end()) {
      auto line = marks[static_cast<std::size_t>(first - upstream.instances.begin())].line + 1;
      ctx.diag.error(*address, "duplicate instance " + quote(instance.address.text) +
                                   " (first at line " + std::to_string(line) + ")");
      continue;
    }
    upstream.instances.push_back(std::move(instance));
    marks.push_back(address->mark);
  }
}

void read_health(Context& ctx, const Field& field, upstreams::HealthCheckConfig& health) {
  MapReader map(ctx.diag, field, {"path", "interval", "timeout", "passes", "fails"});
  if (const Field* path = map.get("path")) {
    if (auto value = read_string(ctx.diag, *path)) {
      if (value->front() == '/') {
        health.path = *value;
      } else {
        ctx.diag.error(*path, "path " + quote(*value) + " must start with '/'");
      }
    }
  }
  map.read_duration("interval", health.interval, Duration{1});
  map.read_duration("timeout", health.timeout, Duration{1});
  map.read_int("passes", health.passes, 1, 100);
  map.read_int("fails", health.fails, 1, 100);
}

// `panic_threshold: 50%`: a whole percentage, 0% to 100%. The sign is
// required: a bare 50 or 0.5 could mean either.
std::optional<int> read_percent(Diagnostics& diag, const Field& field) {
  auto text = read_string(diag, field);
  if (!text) return std::nullopt;
  std::string_view number = *text;
  bool percent = number.size() >= 2 && number.back() == '%';
  if (percent) number.remove_suffix(1);
  // Digits only: no sign, no fraction, no space.
  if (!percent || number.find_first_not_of("0123456789") != std::string_view::npos) {
    diag.error(field, "invalid percentage " + quote(*text) + " (a whole number from 0% to 100%, e.g. 50%)");
    return std::nullopt;
  }
  int value = 0;
  if (std::from_chars(number.data(), number.data() + number.size(), value).ec != std::errc{} || value > 100) {
    diag.error(field, *text + " is out of range (0%..100%)");
    return std::nullopt;
  }
  return value;
}

void read_upstream(Context& ctx, const Field& field, upstreams::GroupConfig& upstream) {
  MapReader map(ctx.diag, field,
                {"balance", "instances", "keepalive", "retries", "max_fails", "fails",
                 "fail_timeout", "panic_threshold", "health", "tls", "slow_start", "max_conns",
                 "max_queue", "queue_timeout", "resolve"});
  if (!map.valid()) return;
  map.read_choice("balance", upstream.balance, Choices<upstreams::Balance>(kBalances));
  if (const Field* instances = map.require("instances")) read_instances(ctx, *instances, upstream);
  map.read_int("keepalive", upstream.keepalive, 0, 10'000);
  map.read_int("retries", upstream.retries, 0, 100);
  // `fails` is an alias of max_fails (the nginx name).
  if (map.get("max_fails") && map.get("fails")) {
    ctx.diag.error(*map.key_mark("fails"),
                   field.path + ": give max_fails or its alias fails, not both");
  } else {
    map.read_int(map.get("fails") ? "fails" : "max_fails", upstream.max_fails, 0, 1'000);
  }
  map.read_duration("fail_timeout", upstream.fail_timeout);
  map.read("panic_threshold", upstream.panic_threshold, [&](const Field& f) { return read_percent(ctx.diag, f); });
  map.read_duration("slow_start", upstream.slow_start);
  map.read_int("max_conns", upstream.max_conns, 0, 1'000'000);
  map.read_int("max_queue", upstream.max_queue, 0, 1'000'000);
  map.read_duration("queue_timeout", upstream.queue_timeout, Duration{1});
  if (const Field* health = map.get("health")) {
    read_health(ctx, *health, upstream.health.emplace());
  }
  if (const Field* tls = map.get("tls")) read_upstream_tls(ctx, *tls, upstream.tls.emplace());
  // H2: re-resolve the instances' host names this often (membership.hpp).
  map.read_duration("resolve", upstream.resolve, Duration{100});
}

}  // namespace

void read_upstreams(Context& ctx, const Field& field, std::vector<upstreams::GroupConfig>& groups) {
  if (!expect_type(ctx.diag, field, YAML::NodeType::Map)) return;
  for (const auto& entry : map_entries(ctx.diag, field, "upstream")) {
    check_name(ctx, entry, "upstream");
    upstreams::GroupConfig upstream;
    upstream.name = entry.key;
    read_upstream(ctx, entry.value, upstream);
    // Kept even when invalid, so routes naming it don't add a second error.
    groups.push_back(std::move(upstream));
  }
}

void read_resolver(Context& ctx, const Field& field, std::vector<Endpoint>& servers) {
  if (!expect_type(ctx.diag, field, YAML::NodeType::Sequence)) return;
  for (const auto& item : sequence_items(field)) {
    auto text = read_string(ctx.diag, item);
    if (!text) continue;
    auto endpoint = parse_endpoint(*text);
    if (!endpoint && upstreams::is_ip_literal(*text)) endpoint = upstreams::endpoint_of(*text, 53);
    if (!endpoint || !upstreams::is_ip_literal(endpoint->host)) {
      ctx.diag.error(item, "invalid DNS server " + quote(*text) + " (an IP address, with a port or 53)");
      continue;
    }
    servers.push_back(std::move(*endpoint));
  }
}

}  // namespace gateway::config
