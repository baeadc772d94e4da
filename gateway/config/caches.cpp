// The `caches:` section: each zone's directory, sizes (disk and the RAM tier),
// eviction policy, admission rule and purge-tag header, and its optional shared Redis tier,
// into cache::ZoneConfig (cache/config.hpp). Each zone is checked against the
// zones before it: no two share a directory, nor mix their keys on one Redis.
// Routes name the zones in their cache rule (routes.cpp); those names are
// checked in gateway/config.cpp. The other sections are listed in sections.hpp.
#include "gateway/config/sections.hpp"

#include <sys/un.h>

#include <algorithm>
#include <charconv>

namespace gateway::config {

namespace {

namespace fs = std::filesystem;

using Zones = std::vector<cache::ZoneConfig>;

// Redis refuses larger values (its default proto-max-bulk-len).
constexpr std::uint64_t kMaxRedisValue = 512ull << 20;
// sun_path holds the socket path and its terminating NUL.
constexpr std::size_t kMaxUnixPath = sizeof(sockaddr_un::sun_path) - 1;

// Whether `inner` is `outer` or lies under it; both absolute and normal.
bool path_within(const fs::path& inner, const fs::path& outer) {
  return std::mismatch(outer.begin(), outer.end(), inner.begin(), inner.end()).first == outer.end();
}

// Relative to the config file's directory; normal, without a trailing '/'.
// Two zones must not share a directory, nor nest one in the other: each
// zone's loader and eviction would take the other's files for its own.
void read_cache_path(Context& ctx, const Field& field, const Zones& earlier,
                     cache::ZoneConfig& zone) {
  auto value = read_string(ctx.diag, field);
  if (!value) return;
  fs::path path = resolve_path(ctx, *value);
  if (!path.has_filename() && path.has_relative_path()) path = path.parent_path();

  for (const auto& other : earlier) {
    if (other.path.empty()) continue;
    fs::path other_path(other.path);
    std::string_view clash = path == other_path               ? " is the path of zone "
                             : path_within(path, other_path) ? " is inside the path of zone "
                             : path_within(other_path, path) ? " contains the path of zone "
                                                             : "";
    if (!clash.empty()) {
      ctx.diag.error(field, "path " + quote(*value) + std::string(clash) + quote(other.name) +
                                " (line " + std::to_string(other.line) + ")");
      return;
    }
  }
  zone.path = path.string();
}

// A Unix socket path: relative to the config file's directory, normal, and
// short enough for sockaddr_un.
std::optional<std::string> read_unix_socket(Context& ctx, const Field& field) {
  auto value = read_string(ctx.diag, field);
  if (!value) return std::nullopt;
  fs::path path = resolve_path(ctx, *value);
  if (!path.has_filename()) {
    ctx.diag.error(field, "unix socket path " + quote(*value) + " names a directory");
    return std::nullopt;
  }
  if (path.native().size() > kMaxUnixPath) {
    ctx.diag.error(field, "unix socket path " + quote(path.native()) + " is longer than " +
                              std::to_string(kMaxUnixPath) + " bytes");
    return std::nullopt;
  }
  return path.string();
}

// Whether two zones' `redis:` name the same Redis: one address, one Unix
// socket, the same Sentinel master, or clusters sharing a seed.
bool same_redis(const cache::RedisConfig& a, const cache::RedisConfig& b) {
  auto overlap = [](const std::vector<Endpoint>& x, const std::vector<Endpoint>& y) {
    return std::any_of(x.begin(), x.end(), [&](const Endpoint& e) {
      return std::any_of(y.begin(), y.end(), [&](const Endpoint& f) { return same_endpoint(e, f); });
    });
  };
  if (a.address || b.address) return a.address && b.address && same_endpoint(*a.address, *b.address);
  if (!a.unix_socket.empty() || !b.unix_socket.empty()) return a.unix_socket == b.unix_socket;
  if (!a.sentinels.empty() || !b.sentinels.empty())
    return a.master_name == b.master_name && overlap(a.sentinels, b.sentinels);
  return overlap(a.cluster, b.cluster);
}

// Two zones on one Redis must keep their keys apart: with the same
// key_prefix their entries, locks and purges would mix, and with one prefix
// the start of the other a prefix purge of one would reach into the other.
void check_shared_redis(Context& ctx, const Field& field, const Zones& earlier,
                        const cache::ZoneConfig& zone) {
  const cache::RedisConfig& redis = *zone.redis;
  for (const auto& other : earlier) {
    if (!other.redis || !same_redis(redis, *other.redis)) continue;
    std::string_view mine = redis.key_prefix;
    std::string_view prefix = other.redis->key_prefix;
    std::string_view clash = mine == prefix               ? " is the key_prefix of zone "
                             : mine.starts_with(prefix) ? " starts with the key_prefix of zone "
                             : prefix.starts_with(mine) ? " is the start of the key_prefix of zone "
                                                        : "";
    if (!clash.empty()) {
      ctx.diag.error(field, "key_prefix " + quote(mine) + std::string(clash) + quote(other.name) +
                                " (line " + std::to_string(other.line) +
                                ") on the same Redis: their entries would mix");
      return;
    }
  }
}

// A list of host:port (Sentinels, cluster seeds): at least one.
bool read_endpoint_list(Context& ctx, const Field& field, std::vector<Endpoint>& out) {
  if (!expect_type(ctx.diag, field, YAML::NodeType::Sequence)) return false;
  auto items = sequence_items(field);
  if (items.empty()) {
    ctx.diag.error(field, "must list at least one host:port");
    return false;
  }
  bool ok = true;
  for (const auto& item : items) {
    auto e = read_endpoint(ctx.diag, item, false);
    if (e) out.push_back(std::move(*e));
    ok = ok && e.has_value();
  }
  return ok;
}

// `sentinels` and its `master_name`.
bool read_sentinels(Context& ctx, const MapReader& map, const Field& field, cache::RedisConfig& redis) {
  const Field* master = map.get("master_name");
  bool ok = read_endpoint_list(ctx, *map.get("sentinels"), redis.sentinels);
  if (!master) {
    ctx.diag.error(*map.key_mark("sentinels"), field.path + ": sentinels need master_name");
    return false;
  }
  auto name = read_string(ctx.diag, *master);
  if (name && name->empty()) ctx.diag.error(*master, "must not be empty");
  if (!name || name->empty()) return false;
  redis.master_name = std::move(*name);
  return ok;
}

// Where the Redis is: exactly one of address, unix, sentinels (with
// master_name) and cluster (seed nodes). Returns the field it was read
// from, or null when it was not read.
const Field* read_redis_server(Context& ctx, const MapReader& map, const Field& field,
                               cache::RedisConfig& redis) {
  std::vector<std::string_view> given;
  for (std::string_view key : {"address", "unix", "sentinels", "cluster"})
    if (map.get(key)) given.push_back(key);
  if (map.get("master_name") && !map.get("sentinels")) {
    ctx.diag.error(*map.key_mark("master_name"), field.path + ": master_name goes with sentinels");
    return nullptr;
  }
  if (given.empty()) {
    ctx.diag.error(field, "missing required key \"address\", \"unix\", \"sentinels\" or \"cluster\"");
    return nullptr;
  }
  if (given.size() > 1) {
    // Blamed: the one of the first two that comes later in the file.
    const YAML::Mark& a = *map.key_mark(given[0]);
    const YAML::Mark& b = *map.key_mark(given[1]);
    const bool b_later = std::pair(b.line, b.column) > std::pair(a.line, a.column);
    ctx.diag.error(b_later ? b : a, field.path + ": give " + std::string(given[0]) + " or " +
                                        std::string(given[1]) + ", not both");
    return nullptr;
  }
  const Field* where = map.get(given[0]);
  if (given[0] == "address") {
    redis.address = read_endpoint(ctx.diag, *where, false);
    return redis.address ? where : nullptr;
  }
  if (given[0] == "unix") {
    auto path = read_unix_socket(ctx, *where);
    if (path) redis.unix_socket = std::move(*path);
    return path ? where : nullptr;
  }
  if (given[0] == "sentinels") return read_sentinels(ctx, map, field, redis) ? where : nullptr;
  return read_endpoint_list(ctx, *where, redis.cluster) ? where : nullptr;
}

// `key_prefix`, when given: without whitespace or control characters.
// Returns false when it was given and could not be read; `blame` becomes the
// prefix when it was read.
bool read_key_prefix(Context& ctx, const MapReader& map, cache::RedisConfig& redis,
                     const Field*& blame) {
  const Field* prefix = map.get("key_prefix");
  if (prefix == nullptr) return true;
  auto value = read_string(ctx.diag, *prefix);
  if (!value) return false;
  auto bad = std::find_if(value->begin(), value->end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u <= ' ' || u == 0x7f;  // space and the control characters
  });
  if (bad != value->end()) {
    ctx.diag.error(*prefix, "key_prefix " + quote(*value) +
                                " must not contain whitespace or control characters");
    return false;
  }
  redis.key_prefix = std::move(*value);
  blame = prefix;
  return true;
}

// `redis: HOST:PORT`, or `redis: {address | unix | sentinels + master_name |
// cluster, timeout, connect_timeout,
// lock_timeout, max_entry_bytes, key_prefix}`. zone.redis is set only when
// where to connect was read; the zone is then checked against the earlier
// zones sharing that Redis, blaming the key that makes the clash.
void read_cache_redis(Context& ctx, const Field& field, const Zones& earlier,
                      cache::ZoneConfig& zone) {
  cache::RedisConfig redis;
  if (field.node.IsScalar()) {
    redis.address = read_endpoint(ctx.diag, field, false);
    if (!redis.address) return;
    zone.redis = std::move(redis);
    check_shared_redis(ctx, field, earlier, zone);
    return;
  }
  MapReader map(ctx.diag, field,
                {"address", "unix", "sentinels", "master_name", "cluster", "timeout", "connect_timeout",
                 "lock_timeout", "max_entry_bytes", "key_prefix"});
  if (!map.valid()) return;
  const Field* blame = read_redis_server(ctx, map, field, redis);
  const bool server_read = blame != nullptr;
  map.read_duration("timeout", redis.timeout, Duration{1});
  map.read_duration("connect_timeout", redis.connect_timeout, Duration{1});
  map.read_duration("lock_timeout", redis.lock_timeout, Duration{1});
  map.read_size("max_entry_bytes", redis.max_entry_bytes, 1, kMaxRedisValue);
  const bool prefix_read = read_key_prefix(ctx, map, redis, blame);
  if (!server_read || !prefix_read) return;
  zone.redis = std::move(redis);
  check_shared_redis(ctx, *blame, earlier, zone);
}

// memory 0 turns the RAM tier off. An explicit memory_entry_max must fit in
// memory; the default one shrinks to fit.
void read_memory(Context& ctx, const MapReader& map, cache::ZoneConfig& zone) {
  bool memory_read = true;
  if (const Field* memory = map.get("memory")) {
    auto value = read_size(ctx.diag, *memory, 0, kMaxSize);
    if (value) zone.memory = *value;
    memory_read = value.has_value();
  }
  if (const Field* entry_max = map.get("memory_entry_max")) {
    if (auto value = read_size(ctx.diag, *entry_max, 0, kMaxSize)) {
      zone.memory_entry_max = *value;
      if (memory_read && *value > zone.memory) {
        ctx.diag.error(*entry_max, quote(entry_max->node.Scalar()) + " is larger than memory (" +
                                       std::to_string(zone.memory) + " bytes)");
      }
    }
  } else {
    zone.memory_entry_max = std::min(zone.memory_entry_max, zone.memory);
  }
}

// A percentage, "10%" or "2.5%": above 0, at most 100; as a fraction.
std::optional<double> read_percent(Context& ctx, const Field& field) {
  auto text = read_string(ctx.diag, field);
  if (!text) return std::nullopt;
  double value = 0;
  const char* end = text->data() + text->size();
  auto [p, ec] = std::from_chars(text->data(), end, value, std::chars_format::fixed);
  if (ec != std::errc{} || p + 1 != end || *p != '%' || !(value > 0 && value <= 100)) {
    ctx.diag.error(field, "invalid percentage " + quote(*text) + " (above 0% and at most 100%, e.g. 10%)");
    return std::nullopt;
  }
  return value / 100;
}

// `heuristic: true | false`, or `heuristic: {fraction: 10%, max: 1d}` (on,
// with those defaults for what it leaves out).
void read_heuristic(Context& ctx, const Field& field, cache::HeuristicConfig& heuristic) {
  if (field.node.IsScalar()) {
    if (auto on = read_bool(ctx.diag, field)) heuristic.enabled = *on;
    return;
  }
  MapReader map(ctx.diag, field, {"fraction", "max"});
  if (!map.valid()) return;
  heuristic.enabled = true;
  if (const Field* fraction = map.get("fraction")) {
    if (auto value = read_percent(ctx, *fraction)) heuristic.fraction = *value;
  }
  map.read_duration("max", heuristic.max, Duration{1'000});
}

// `policy:` and `admission:`: the spec texts of cache/eviction.hpp and
// cache/admission.hpp (gateway-lab's --policy / --admission), an error
// blamed at the fault's column inside the string (past an opening quote).
template <class Spec, class Parse>
void read_spec(Context& ctx, const MapReader& map, std::string_view key, Spec& out, Parse parse) {
  const Field* field = map.get(key);
  if (!field) return;
  auto text = read_string(ctx.diag, *field);
  if (!text) return;
  std::string error;
  std::size_t at = 0;
  if (auto spec = parse(*text, error, &at)) {
    out = *spec;
    return;
  }
  YAML::Mark mark = field->mark;
  if (!mark.is_null()) mark.column += static_cast<int>(at) + (field->node.Tag() == "!" ? 1 : 0);
  ctx.diag.error(mark, field->path + ": " + error);
}

void read_cache_zone(Context& ctx, const Field& field, const Zones& earlier,
                     cache::ZoneConfig& zone) {
  MapReader map(ctx.diag, field,
                {"path", "max_size", "memory", "memory_entry_max", "policy", "admission", "inactive",
                 "tags_header", "redis", "heuristic"});
  if (!map.valid()) return;
  if (const Field* path = map.require("path")) read_cache_path(ctx, *path, earlier, zone);
  map.read_size("max_size", zone.max_size, 1, kMaxSize);
  read_memory(ctx, map, zone);
  read_spec(ctx, map, "policy", zone.policy, cache::parse_policy_spec);
  read_spec(ctx, map, "admission", zone.admission, cache::parse_admission_spec);
  map.read_duration("inactive", zone.inactive, Duration{1});
  if (const Field* tags = map.get("tags_header")) {
    if (auto value = read_string(ctx.diag, *tags)) {
      if (valid_token(*value)) {
        zone.tags_header = *value;
      } else {
        ctx.diag.error(*tags, "invalid header name " + quote(*value));
      }
    }
  }
  if (const Field* redis = map.get("redis")) read_cache_redis(ctx, *redis, earlier, zone);
  if (const Field* heuristic = map.get("heuristic")) read_heuristic(ctx, *heuristic, zone.heuristic);
}

}  // namespace

void read_caches(Context& ctx, const Field& field, std::vector<cache::ZoneConfig>& zones) {
  if (!expect_type(ctx.diag, field, YAML::NodeType::Map)) return;
  for (const auto& entry : map_entries(ctx.diag, field, "cache zone")) {
    check_name(ctx, entry, "cache zone");
    cache::ZoneConfig zone;
    zone.name = entry.key;
    zone.line = entry.key_mark.line + 1;
    read_cache_zone(ctx, entry.value, zones, zone);
    // Kept even when invalid, so routes naming it don't add a second error.
    zones.push_back(std::move(zone));
  }
}

}  // namespace gateway::config
