// Owns loading the configuration: YAML text -> a validated, immutable Config.
// Runs on the thread that loads (main at start-up, the signal handler's thread
// on SIGHUP); nothing here is on the request path.
//
// Two layers. The lower one (Field, MapReader and the read_* functions) knows
// YAML: node types, duplicate and unknown keys, typed values, and where each
// node sits in the file. The upper one (Loader) knows the configuration's
// shape: one small function per section, dispatched from tables, so a new
// section or key is one row and a few lines. Every problem is recorded and
// reading goes on, so a user sees all of them at once.
#include "gateway/config.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <span>
#include <sstream>
#include <utility>

#include <sys/un.h>

#include "gateway/compose/template.hpp"
#include "base/http/message.hpp"
#include "base/units.hpp"

namespace gateway {

std::string ConfigError::to_string() const {
  if (line <= 0) return file + ": " + message;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

const upstreams::GroupConfig* Config::find_upstream(std::string_view name) const {
  for (const auto& upstream : upstreams) {
    if (upstream.name == name) return &upstream;
  }
  return nullptr;
}

namespace {

namespace fs = std::filesystem;

constexpr std::string_view kDefaultListen = "127.0.0.1:8080";
constexpr int kMaxWorkers = 256;
constexpr std::uint64_t kMaxHeaderBytes = 64ull << 20;
constexpr std::size_t kMaxQuotedValue = 64;

// ---------------------------------------------------------------------------
// YAML layer
// ---------------------------------------------------------------------------

// A node, where to blame it, and how to name it in messages.
struct Field {
  YAML::Node node;
  YAML::Mark mark;   // the node's own mark, or its key's when the value is empty
  std::string path;  // "upstreams.channels.retries", for messages
};

std::string quote(std::string_view text) {
  std::string out = "\"";
  out.append(text.substr(0, kMaxQuotedValue));
  if (text.size() > kMaxQuotedValue) out += "...";
  out += '"';
  return out;
}

std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar: return quote(node.Scalar());
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a map";
    default: return "nothing";
  }
}

std::string child_path(const std::string& parent, std::string_view key) {
  return parent.empty() ? std::string(key) : parent + "." + std::string(key);
}

// " in upstreams.channels", or nothing at the top level.
std::string where(const Field& field) {
  return field.path.empty() ? std::string() : " in " + field.path;
}

class Diagnostics {
 public:
  explicit Diagnostics(std::string file) : file_(std::move(file)) {}

  void error(const YAML::Mark& mark, std::string message) {
    ConfigError e{file_, 0, 0, std::move(message)};
    if (!mark.is_null()) {
      e.line = mark.line + 1;
      e.column = mark.column + 1;
    }
    errors_.push_back({e.line, e.column, std::move(e)});
  }

  // An error in another file the configuration names (a page template),
  // listed where the configuration names it.
  void error_in(const std::string& file, int line, int column, std::string message,
                const YAML::Mark& named_at) {
    int order_line = named_at.is_null() ? 0 : named_at.line + 1;
    int order_column = named_at.is_null() ? 0 : named_at.column + 1;
    errors_.push_back({order_line, order_column, ConfigError{file, line, column, std::move(message)}});
  }

  // "path: message", blamed on the field's node.
  void error(const Field& field, std::string_view message) {
    error(field.mark, field.path.empty() ? std::string(message)
                                         : field.path + ": " + std::string(message));
  }

  bool ok() const { return errors_.empty(); }

  // In file order, whatever order the checks ran in.
  std::vector<ConfigError> take() {
    std::stable_sort(errors_.begin(), errors_.end(), [](const auto& a, const auto& b) {
      return std::pair(a.line, a.column) < std::pair(b.line, b.column);
    });
    std::vector<ConfigError> out;
    for (auto& item : errors_) out.push_back(std::move(item.error));
    errors_.clear();
    return out;
  }

 private:
  struct Item {
    int line, column;  // where in the configuration, for the order
    ConfigError error;
  };
  std::string file_;
  std::vector<Item> errors_;
};

YAML::Mark mark_of(const YAML::Node& node, const YAML::Mark& fallback) {
  // yaml-cpp marks an empty value ("key:" then a newline) where the next token
  // starts, which would blame the wrong line.
  if (node.IsNull() || node.Mark().is_null()) return fallback;
  return node.Mark();
}

bool expect_type(Diagnostics& diag, const Field& field, YAML::NodeType::value type) {
  if (field.node.Type() == type) return true;
  std::string_view wanted = type == YAML::NodeType::Map        ? "a map"
                            : type == YAML::NodeType::Sequence ? "a list"
                                                               : "a single value";
  diag.error(field, "expected " + std::string(wanted) + ", got " + describe(field.node));
  return false;
}

struct Entry {
  std::string key;
  YAML::Mark key_mark;
  Field value;
};

// The pairs of a map in file order. yaml-cpp keeps every pair of a map that
// repeats a key while lookups see only one of them: report the repeats here.
// `noun` names what the keys are ("key", "upstream") in that message.
std::vector<Entry> map_entries(Diagnostics& diag, const Field& map, std::string_view noun = "key") {
  std::vector<Entry> entries;
  for (auto it = map.node.begin(); it != map.node.end(); ++it) {
    // Copies: `it->` yields a proxy that dies with the full expression.
    const YAML::Node key = it->first;
    const YAML::Node value = it->second;
    if (!key.IsScalar()) {
      diag.error(mark_of(key, map.mark), "keys must be plain strings" + where(map));
      continue;
    }
    const std::string& name = key.Scalar();
    auto first = std::find_if(entries.begin(), entries.end(),
                              [&](const Entry& e) { return e.key == name; });
    if (first != entries.end()) {
      diag.error(key.Mark(), "duplicate " + std::string(noun) + " " + quote(name) + where(map) +
                                 " (first at line " + std::to_string(first->key_mark.line + 1) +
                                 ")");
      continue;
    }
    entries.push_back(
        {name, key.Mark(), Field{value, mark_of(value, key.Mark()), child_path(map.path, name)}});
  }
  return entries;
}

// The items of a list, each named "path[i]".
std::vector<Field> sequence_items(const Field& list) {
  std::vector<Field> items;
  std::size_t i = 0;
  for (const auto& node : list.node) {
    items.push_back({node, mark_of(node, list.mark), list.path + "[" + std::to_string(i++) + "]"});
  }
  return items;
}

// Typed values. Each reports its own error and returns nullopt on failure.

std::optional<std::string> read_string(Diagnostics& diag, const Field& field) {
  if (!field.node.IsScalar()) {
    diag.error(field, "expected a string, got " + describe(field.node));
    return std::nullopt;
  }
  if (field.node.Scalar().empty()) {
    diag.error(field, "must not be empty");
    return std::nullopt;
  }
  return field.node.Scalar();
}

std::optional<long long> read_integer(Diagnostics& diag, const Field& field, long long min,
                                      long long max) {
  const std::string* text = field.node.IsScalar() ? &field.node.Scalar() : nullptr;
  long long value = 0;
  if (text != nullptr) {
    auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
    if (ec == std::errc::result_out_of_range) {
      diag.error(field, *text + " is out of range (" + std::to_string(min) + ".." +
                            std::to_string(max) + ")");
      return std::nullopt;
    }
    if (ec != std::errc{} || end != text->data() + text->size()) text = nullptr;
  }
  if (text == nullptr) {
    diag.error(field, "expected an integer, got " + describe(field.node));
    return std::nullopt;
  }
  if (value < min || value > max) {
    diag.error(field, std::to_string(value) + " is out of range (" + std::to_string(min) + ".." +
                          std::to_string(max) + ")");
    return std::nullopt;
  }
  return value;
}

std::optional<bool> read_bool(Diagnostics& diag, const Field& field) {
  if (field.node.IsScalar()) {
    if (field.node.Scalar() == "true") return true;
    if (field.node.Scalar() == "false") return false;
  }
  diag.error(field, "expected true or false, got " + describe(field.node));
  return std::nullopt;
}

std::optional<Duration> read_duration(Diagnostics& diag, const Field& field, Duration min) {
  auto text = read_string(diag, field);
  if (!text) return std::nullopt;
  auto value = parse_duration(*text);
  if (!value) {
    diag.error(field, "invalid duration " + quote(*text) + " (e.g. 500ms, 10s, 1m30s)");
    return std::nullopt;
  }
  if (*value < min) {
    diag.error(field, "duration " + quote(*text) + " must be at least " +
                          std::to_string(min.count()) + "ms");
    return std::nullopt;
  }
  return value;
}

std::optional<std::uint64_t> read_size(Diagnostics& diag, const Field& field, std::uint64_t min,
                                       std::uint64_t max) {
  auto text = read_string(diag, field);
  if (!text) return std::nullopt;
  auto value = parse_size(*text);
  if (!value) {
    diag.error(field, "invalid size " + quote(*text) + " (e.g. 512, 16KiB, 10MiB)");
    return std::nullopt;
  }
  if (*value < min || *value > max) {
    diag.error(field, "size " + quote(*text) + " is out of range (" + std::to_string(min) + ".." +
                          std::to_string(max) + " bytes)");
    return std::nullopt;
  }
  return value;
}

std::optional<Endpoint> read_endpoint(Diagnostics& diag, const Field& field, bool allow_zero_port) {
  auto text = read_string(diag, field);
  if (!text) return std::nullopt;
  auto value = parse_endpoint(*text, allow_zero_port);
  if (!value) {
    diag.error(field, "invalid address " + quote(*text) + " (expected host:port or [ipv6]:port, port " +
                          (allow_zero_port ? "0" : "1") + "-65535)");
  }
  return value;
}

template <class E>
using Choices = std::span<const std::pair<std::string_view, E>>;

template <class E>
std::optional<E> read_choice(Diagnostics& diag, const Field& field, Choices<E> choices) {
  auto text = read_string(diag, field);
  if (!text) return std::nullopt;
  std::string names;
  for (const auto& [name, value] : choices) {
    if (name == *text) return value;
    names += names.empty() ? "" : ", ";
    names += name;
  }
  diag.error(field, "unknown value " + quote(*text) + " (expected one of: " + names + ")");
  return std::nullopt;
}

// A map with a fixed set of keys: reports unknown and duplicate keys once, then
// hands out its values by name. Values that fail to read leave `out` as it was
// (the default), so reading goes on after an error.
class MapReader {
 public:
  MapReader(Diagnostics& diag, const Field& map, std::span<const std::string_view> allowed)
      : diag_(diag), map_(map) {
    valid_ = expect_type(diag, map, YAML::NodeType::Map);
    if (!valid_) return;
    for (auto& entry : map_entries(diag, map)) {
      if (std::find(allowed.begin(), allowed.end(), entry.key) == allowed.end()) {
        diag.error(entry.key_mark, "unknown key " + quote(entry.key) + where(map));
        continue;
      }
      entries_.push_back(std::move(entry));
    }
  }
  MapReader(Diagnostics& diag, const Field& map, std::initializer_list<std::string_view> allowed)
      : MapReader(diag, map, std::span(allowed.begin(), allowed.size())) {}

  bool valid() const { return valid_; }

  // Null when the key is absent (or was unknown or repeated).
  const Field* get(std::string_view key) const {
    for (const auto& entry : entries_) {
      if (entry.key == key) return &entry.value;
    }
    return nullptr;
  }

  // Reports a missing key at the map's own mark.
  const Field* require(std::string_view key) const {
    const Field* field = get(key);
    if (field == nullptr && valid_) {
      diag_.error(map_, "missing required key " + quote(key));
    }
    return field;
  }

  const YAML::Mark* key_mark(std::string_view key) const {
    for (const auto& entry : entries_) {
      if (entry.key == key) return &entry.key_mark;
    }
    return nullptr;
  }

  // read(key, out, reader): if the key is present and reader(field) gives a
  // value, store it in `out`.
  template <class T, class Read>
  void read(std::string_view key, T& out, Read&& reader) const {
    if (const Field* field = get(key)) {
      if (auto value = reader(*field)) out = static_cast<T>(*value);
    }
  }

  template <class T>
  void read_int(std::string_view key, T& out, long long min, long long max) const {
    read(key, out, [&](const Field& f) { return read_integer(diag_, f, min, max); });
  }
  template <class T>
  void read_size(std::string_view key, T& out, std::uint64_t min, std::uint64_t max) const {
    read(key, out, [&](const Field& f) { return gateway::read_size(diag_, f, min, max); });
  }
  void read_duration(std::string_view key, Duration& out, Duration min = Duration{0}) const {
    read(key, out, [&](const Field& f) { return gateway::read_duration(diag_, f, min); });
  }
  void read_bool(std::string_view key, bool& out) const {
    read(key, out, [&](const Field& f) { return gateway::read_bool(diag_, f); });
  }
  void read_string(std::string_view key, std::string& out) const {
    read(key, out, [&](const Field& f) { return gateway::read_string(diag_, f); });
  }
  template <class E>
  void read_choice(std::string_view key, E& out, Choices<E> choices) const {
    read(key, out, [&](const Field& f) { return gateway::read_choice(diag_, f, choices); });
  }

 private:
  Diagnostics& diag_;
  Field map_;
  std::vector<Entry> entries_;
  bool valid_ = false;
};

// ---------------------------------------------------------------------------
// The configuration's shape
// ---------------------------------------------------------------------------

constexpr std::pair<std::string_view, upstreams::Balance> kBalances[] = {
    {"round_robin", upstreams::Balance::round_robin},
    {"weighted", upstreams::Balance::weighted},
    {"least_conn", upstreams::Balance::least_conn},
    {"hash", upstreams::Balance::hash},
};

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
};

constexpr std::pair<std::string_view, cache::PolicyKind> kCachePolicies[] = {
    {"lru", cache::PolicyKind::lru},
    {"s3fifo", cache::PolicyKind::s3fifo},
};

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

constexpr std::uint64_t kMaxSize = std::numeric_limits<std::uint64_t>::max();
constexpr long long kMaxLockWaiters = 1'000'000;
// Redis refuses larger values (its default proto-max-bulk-len).
constexpr std::uint64_t kMaxRedisValue = 512ull << 20;
// sun_path holds the socket path and its terminating NUL.
constexpr std::size_t kMaxUnixPath = sizeof(sockaddr_un::sun_path) - 1;

// Names of upstreams and cache zones.
bool valid_upstream_name(std::string_view name) {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  });
}

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

// RFC 9110 token: header field names, and cookie names (RFC 6265).
bool valid_token(std::string_view name) {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  });
}

// Whether `inner` is `outer` or lies under it; both absolute and normal.
bool path_within(const fs::path& inner, const fs::path& outer) {
  return std::mismatch(outer.begin(), outer.end(), inner.begin(), inner.end()).first == outer.end();
}

using http::lowercase;

bool same_endpoint(const Endpoint& a, const Endpoint& b) {
  return a.port == b.port && lowercase(a.host) == lowercase(b.host);
}

class Loader {
 public:
  Loader(Diagnostics& diag, Config& config, fs::path dir)
      : diag_(diag), config_(config), dir_(std::move(dir)) {}

  void load(const YAML::Node& root);

 private:
  // Where a route names an upstream or a cache zone, for the checks that run
  // once everything is read.
  struct NameUse {
    std::size_t route;
    Field field;
  };

  void read_listen(const Field& field);
  void read_workers(const Field& field);
  void read_admin(const Field& field);
  void read_access_log(const Field& field);
  void read_limits(const Field& field);
  void read_timeouts(const Field& field);
  void read_caches(const Field& field);
  void read_upstreams(const Field& field);
  void read_routes(const Field& field);

  void read_upstream(const Field& field, upstreams::GroupConfig& upstream);
  void read_instances(const Field& field, upstreams::GroupConfig& upstream);
  void read_health(const Field& field, upstreams::HealthCheckConfig& health);
  void read_route(const Field& field);
  std::vector<std::string> read_hosts(const Field& field);
  void read_page(const Field& field, const RouteParams& params, PageConfig& page);
  void read_template(const Field& field, const RouteParams& params, PageConfig& page);
  void read_aggregate(const Field& field, const RouteParams& params, AggregateConfig& aggregate);
  void read_aggregate_parts(const Field& field, const RouteParams& params, bool options_beside,
                            AggregateConfig& aggregate);

  void read_cache_zone(const Field& field, cache::ZoneConfig& zone);
  void read_cache_path(const Field& field, cache::ZoneConfig& zone);
  void read_cache_redis(const Field& field, cache::ZoneConfig& zone);
  std::optional<std::string> read_unix_socket(const Field& field);
  void check_shared_redis(const Field& field, const cache::ZoneConfig& zone);
  void read_cache_rule(const Field& field, cache::RuleConfig& rule);
  void read_cache_valid(const Field& field, cache::RuleConfig& rule);
  void read_cache_names(const Field& field, std::vector<std::string>& headers,
                        std::vector<std::string>& cookies);
  std::vector<std::string> read_name_list(const Field& field, std::string_view noun,
                                          bool ignore_case);
  cache::StaleIfSet read_use_stale(const Field& field);

  void resolve_upstreams();
  void resolve_cache_zones();
  void check_duplicate_routes();

  struct Section {
    std::string_view key;
    void (Loader::*read)(const Field&);
    bool required;
  };
  static const Section kSections[];

  Diagnostics& diag_;
  Config& config_;
  fs::path dir_;  // relative paths in the file are relative to this
  std::vector<Field> route_fields_;         // parallel to config_.routes
  std::vector<NameUse> upstream_uses_;
  std::vector<NameUse> zone_uses_;
};

const Loader::Section Loader::kSections[] = {
    {"listen", &Loader::read_listen, false},
    {"workers", &Loader::read_workers, false},
    {"admin", &Loader::read_admin, false},
    {"access_log", &Loader::read_access_log, false},
    {"limits", &Loader::read_limits, false},
    {"timeouts", &Loader::read_timeouts, false},
    {"caches", &Loader::read_caches, false},
    {"upstreams", &Loader::read_upstreams, false},
    {"routes", &Loader::read_routes, true},
};

void Loader::load(const YAML::Node& root) {
  std::vector<std::string_view> keys;
  for (const auto& section : kSections) keys.push_back(section.key);

  // An empty file is an empty map: it then fails on the required keys.
  Field top{root.IsNull() ? YAML::Node(YAML::NodeType::Map) : root, mark_of(root, YAML::Mark()), ""};
  MapReader map(diag_, top, keys);
  if (!map.valid()) return;
  config_.listen = {*parse_endpoint(kDefaultListen)};
  for (const auto& section : kSections) {
    const Field* field = section.required ? map.require(section.key) : map.get(section.key);
    if (field != nullptr) (this->*section.read)(*field);
  }
  resolve_upstreams();
  resolve_cache_zones();
  check_duplicate_routes();
}

void Loader::read_listen(const Field& field) {
  std::vector<Field> items;
  if (field.node.IsScalar()) {
    items.push_back(field);
  } else if (expect_type(diag_, field, YAML::NodeType::Sequence)) {
    items = sequence_items(field);
    if (items.empty()) diag_.error(field, "must list at least one address");
  }
  if (items.empty()) return;

  config_.listen.clear();
  for (const auto& item : items) {
    auto endpoint = read_endpoint(diag_, item, true);
    if (!endpoint) continue;
    // Port 0 asks the OS for a fresh port each time, so it may repeat.
    bool repeated = endpoint->port != 0 &&
                    std::any_of(config_.listen.begin(), config_.listen.end(),
                                [&](const Endpoint& e) { return same_endpoint(e, *endpoint); });
    if (repeated) {
      diag_.error(item, "address " + quote(endpoint->text) + " is listed twice");
      continue;
    }
    config_.listen.push_back(std::move(*endpoint));
  }
}

void Loader::read_workers(const Field& field) {
  if (field.node.IsScalar() && field.node.Scalar() == "auto") {
    config_.workers = 0;
    return;
  }
  if (auto n = read_integer(diag_, field, 1, kMaxWorkers)) config_.workers = static_cast<int>(*n);
}

void Loader::read_admin(const Field& field) {
  MapReader map(diag_, field, {"listen"});
  if (const Field* listen = map.require("listen")) {
    config_.admin.listen = read_endpoint(diag_, *listen, true);
  }
}

void Loader::read_access_log(const Field& field) {
  auto value = read_string(diag_, field);
  if (!value) return;
  if (*value == "stdout" || *value == "off") {
    config_.access_log = *value;
    return;
  }
  fs::path path(*value);
  if (path.is_relative()) path = dir_ / path;
  config_.access_log = path.lexically_normal().string();
}

void Loader::read_limits(const Field& field) {
  MapReader map(diag_, field, {"header_bytes", "uri_bytes", "body_bytes", "headers"});
  auto& limits = config_.limits;
  map.read_size("header_bytes", limits.header_bytes, 1, kMaxHeaderBytes);
  map.read_size("uri_bytes", limits.uri_bytes, 1, kMaxHeaderBytes);
  map.read_size("body_bytes", limits.body_bytes, 0, std::numeric_limits<std::uint64_t>::max());
  map.read_int("headers", limits.headers, 1, 10'000);
}

void Loader::read_timeouts(const Field& field) {
  std::vector<std::string_view> keys;
  for (const auto& timeout : kTimeoutKeys) keys.push_back(timeout.key);
  MapReader map(diag_, field, keys);
  for (const auto& timeout : kTimeoutKeys) {
    map.read_duration(timeout.key, config_.timeouts.*timeout.field, timeout.min);
  }
}

void Loader::read_caches(const Field& field) {
  if (!expect_type(diag_, field, YAML::NodeType::Map)) return;
  for (const auto& entry : map_entries(diag_, field, "cache zone")) {
    if (!valid_upstream_name(entry.key)) {
      diag_.error(entry.key_mark, "invalid cache zone name " + quote(entry.key) +
                                      " (letters, digits, '_', '.', '-')");
    }
    cache::ZoneConfig zone;
    zone.name = entry.key;
    zone.line = entry.key_mark.line + 1;
    read_cache_zone(entry.value, zone);
    // Kept even when invalid, so routes naming it don't add a second error.
    config_.caches.push_back(std::move(zone));
  }
}

void Loader::read_cache_zone(const Field& field, cache::ZoneConfig& zone) {
  MapReader map(diag_, field,
                {"path", "max_size", "memory", "memory_entry_max", "policy", "inactive",
                 "tags_header", "redis"});
  if (!map.valid()) return;
  if (const Field* path = map.require("path")) read_cache_path(*path, zone);
  map.read_size("max_size", zone.max_size, 1, kMaxSize);

  // memory 0 turns the RAM tier off. An explicit memory_entry_max must fit in
  // memory; the default one shrinks to fit.
  bool memory_read = true;
  if (const Field* memory = map.get("memory")) {
    auto value = read_size(diag_, *memory, 0, kMaxSize);
    if (value) zone.memory = *value;
    memory_read = value.has_value();
  }
  if (const Field* entry_max = map.get("memory_entry_max")) {
    if (auto value = read_size(diag_, *entry_max, 0, kMaxSize)) {
      zone.memory_entry_max = *value;
      if (memory_read && *value > zone.memory) {
        diag_.error(*entry_max, quote(entry_max->node.Scalar()) + " is larger than memory (" +
                                    std::to_string(zone.memory) + " bytes)");
      }
    }
  } else {
    zone.memory_entry_max = std::min(zone.memory_entry_max, zone.memory);
  }

  map.read_choice("policy", zone.policy, Choices<cache::PolicyKind>(kCachePolicies));
  map.read_duration("inactive", zone.inactive, Duration{1});
  if (const Field* tags = map.get("tags_header")) {
    if (auto value = read_string(diag_, *tags)) {
      if (valid_token(*value)) {
        zone.tags_header = *value;
      } else {
        diag_.error(*tags, "invalid header name " + quote(*value));
      }
    }
  }
  if (const Field* redis = map.get("redis")) read_cache_redis(*redis, zone);
}

// `redis: HOST:PORT`, or `redis: {address | unix, timeout, connect_timeout,
// lock_timeout, max_entry_bytes, key_prefix}`. zone.redis is set only when
// where to connect was read; the zone is then checked against the earlier
// zones sharing that Redis.
void Loader::read_cache_redis(const Field& field, cache::ZoneConfig& zone) {
  cache::RedisConfig redis;
  const Field* blame = &field;  // what to blame when another zone shares the keys
  if (field.node.IsScalar()) {
    redis.address = read_endpoint(diag_, field, false);
    if (!redis.address) return;
    zone.redis = std::move(redis);
    check_shared_redis(*blame, zone);
    return;
  }
  MapReader map(diag_, field,
                {"address", "unix", "cluster", "timeout", "connect_timeout", "lock_timeout",
                 "max_entry_bytes", "key_prefix"});
  if (!map.valid()) return;

  // Where: exactly one of address and unix. A cluster seed list is known but
  // not served yet: say so rather than "unknown key".
  const Field* address = map.get("address");
  const Field* unix_path = map.get("unix");
  bool where_read = false;
  if (map.get("cluster")) {
    diag_.error(*map.key_mark("cluster"),
                field.path + ": Redis Cluster is not supported yet; give one address");
  }
  if (address && unix_path) {
    const YAML::Mark& a = *map.key_mark("address");
    const YAML::Mark& u = *map.key_mark("unix");
    const bool unix_later = std::pair(u.line, u.column) > std::pair(a.line, a.column);
    diag_.error(unix_later ? u : a, field.path + ": give address or unix, not both");
  } else if (address) {
    redis.address = read_endpoint(diag_, *address, false);
    where_read = redis.address.has_value();
    blame = address;
  } else if (unix_path) {
    if (auto path = read_unix_socket(*unix_path)) {
      redis.unix_socket = std::move(*path);
      where_read = true;
    }
    blame = unix_path;
  } else if (!map.get("cluster")) {
    diag_.error(field, "missing required key \"address\" or \"unix\"");
  }

  map.read_duration("timeout", redis.timeout, Duration{1});
  map.read_duration("connect_timeout", redis.connect_timeout, Duration{1});
  map.read_duration("lock_timeout", redis.lock_timeout, Duration{1});
  map.read_size("max_entry_bytes", redis.max_entry_bytes, 1, kMaxRedisValue);
  bool prefix_read = true;
  if (const Field* prefix = map.get("key_prefix")) {
    auto value = read_string(diag_, *prefix);
    prefix_read = value.has_value();
    if (value) {
      auto bad = std::find_if(value->begin(), value->end(), [](char c) {
        auto u = static_cast<unsigned char>(c);
        return u <= ' ' || u == 0x7f;  // space and the control characters
      });
      if (bad != value->end()) {
        diag_.error(*prefix, "key_prefix " + quote(*value) +
                                 " must not contain whitespace or control characters");
        prefix_read = false;
      } else {
        redis.key_prefix = std::move(*value);
        blame = prefix;
      }
    }
  }
  if (!where_read || !prefix_read) return;
  zone.redis = std::move(redis);
  check_shared_redis(*blame, zone);
}

// A Unix socket path: relative to the config file's directory, normal, and
// short enough for sockaddr_un.
std::optional<std::string> Loader::read_unix_socket(const Field& field) {
  auto value = read_string(diag_, field);
  if (!value) return std::nullopt;
  fs::path path(*value);
  if (path.is_relative()) path = dir_ / path;
  path = path.lexically_normal();
  if (!path.has_filename()) {
    diag_.error(field, "unix socket path " + quote(*value) + " names a directory");
    return std::nullopt;
  }
  if (path.native().size() > kMaxUnixPath) {
    diag_.error(field, "unix socket path " + quote(path.native()) + " is longer than " +
                           std::to_string(kMaxUnixPath) + " bytes");
    return std::nullopt;
  }
  return path.string();
}

// Two zones on one Redis must keep their keys apart: with the same
// key_prefix their entries, locks and purges would mix, and with one prefix
// the start of the other a prefix purge of one would reach into the other.
void Loader::check_shared_redis(const Field& field, const cache::ZoneConfig& zone) {
  const cache::RedisConfig& redis = *zone.redis;
  for (const auto& other : config_.caches) {
    if (!other.redis) continue;
    const cache::RedisConfig& theirs = *other.redis;
    const bool same_server = redis.address && theirs.address
                                 ? same_endpoint(*redis.address, *theirs.address)
                                 : !redis.address && !theirs.address &&
                                       redis.unix_socket == theirs.unix_socket;
    if (!same_server) continue;
    std::string_view mine = redis.key_prefix;
    std::string_view prefix = theirs.key_prefix;
    std::string_view clash = mine == prefix               ? " is the key_prefix of zone "
                             : mine.starts_with(prefix) ? " starts with the key_prefix of zone "
                             : prefix.starts_with(mine) ? " is the start of the key_prefix of zone "
                                                        : "";
    if (!clash.empty()) {
      diag_.error(field, "key_prefix " + quote(mine) + std::string(clash) + quote(other.name) +
                             " (line " + std::to_string(other.line) +
                             ") on the same Redis: their entries would mix");
      return;
    }
  }
}

// Relative to the config file's directory; normal, without a trailing '/'.
// Two zones must not share a directory, nor nest one in the other: each
// zone's loader and eviction would take the other's files for its own.
void Loader::read_cache_path(const Field& field, cache::ZoneConfig& zone) {
  auto value = read_string(diag_, field);
  if (!value) return;
  fs::path path(*value);
  if (path.is_relative()) path = dir_ / path;
  path = path.lexically_normal();
  if (!path.has_filename() && path.has_relative_path()) path = path.parent_path();

  for (const auto& other : config_.caches) {
    if (other.path.empty()) continue;
    fs::path other_path(other.path);
    std::string_view clash = path == other_path               ? " is the path of zone "
                             : path_within(path, other_path) ? " is inside the path of zone "
                             : path_within(other_path, path) ? " contains the path of zone "
                                                             : "";
    if (!clash.empty()) {
      diag_.error(field, "path " + quote(*value) + std::string(clash) + quote(other.name) +
                             " (line " + std::to_string(other.line) + ")");
      return;
    }
  }
  zone.path = path.string();
}

void Loader::read_cache_rule(const Field& field, cache::RuleConfig& rule) {
  const std::size_t route = config_.routes.size();
  // `cache: main` is `cache: {zone: main}`.
  if (field.node.IsScalar()) {
    if (auto zone = read_string(diag_, field)) {
      rule.zone = *zone;
      zone_uses_.push_back({route, field});
    }
    return;
  }
  MapReader map(diag_, field,
                {"zone", "ttl", "valid", "override", "query", "key", "bypass",
                 "store_set_cookie", "honor_client_no_cache", "use_stale", "lock_timeout",
                 "lock_max_waiters", "background_update_timeout"});
  if (!map.valid()) return;
  if (const Field* zone = map.require("zone")) {
    if (auto name = read_string(diag_, *zone)) {
      rule.zone = *name;
      zone_uses_.push_back({route, *zone});
    }
  }
  map.read_duration("ttl", rule.ttl);
  if (const Field* valid = map.get("valid")) read_cache_valid(*valid, rule);
  map.read_bool("override", rule.override);
  map.read_choice("query", rule.query, Choices<cache::RuleConfig::Query>(kCacheQueries));
  if (const Field* key = map.get("key")) read_cache_names(*key, rule.key_headers, rule.key_cookies);
  if (const Field* bypass = map.get("bypass")) {
    read_cache_names(*bypass, rule.bypass_headers, rule.bypass_cookies);
  }
  map.read_bool("store_set_cookie", rule.store_set_cookie);
  map.read_bool("honor_client_no_cache", rule.honor_client_no_cache);
  if (const Field* use_stale = map.get("use_stale")) rule.use_stale = read_use_stale(*use_stale);
  map.read_duration("lock_timeout", rule.lock_timeout, Duration{1});
  map.read_int("lock_max_waiters", rule.lock_max_waiters, 1, kMaxLockWaiters);
  map.read_duration("background_update_timeout", rule.background_update_timeout, Duration{1});
}

// `valid: {200: 10s, 404: 1s}`: a TTL per status code, in file order.
void Loader::read_cache_valid(const Field& field, cache::RuleConfig& rule) {
  if (!expect_type(diag_, field, YAML::NodeType::Map)) return;
  std::map<int, int> lines;  // status -> line first given
  for (const auto& entry : map_entries(diag_, field, "status")) {
    int status = 0;
    auto [end, ec] = std::from_chars(entry.key.data(), entry.key.data() + entry.key.size(), status);
    if (ec != std::errc{} || end != entry.key.data() + entry.key.size() || status < 100 ||
        status > 599) {
      diag_.error(entry.key_mark, "invalid status code " + quote(entry.key) + where(field) +
                                      " (100..599)");
      continue;
    }
    auto [first, inserted] = lines.emplace(status, entry.key_mark.line + 1);
    if (!inserted) {
      diag_.error(entry.key_mark, "duplicate status " + std::to_string(status) + where(field) +
                                      " (first at line " + std::to_string(first->second) + ")");
      continue;
    }
    if (auto ttl = read_duration(diag_, entry.value, Duration{0})) {
      rule.valid.emplace_back(status, *ttl);
    }
  }
}

// `key:` and `bypass:`: {headers: [...], cookies: [...]}.
void Loader::read_cache_names(const Field& field, std::vector<std::string>& headers,
                              std::vector<std::string>& cookies) {
  MapReader map(diag_, field, {"headers", "cookies"});
  if (const Field* list = map.get("headers")) headers = read_name_list(*list, "header", true);
  if (const Field* list = map.get("cookies")) cookies = read_name_list(*list, "cookie", false);
}

// A list of header or cookie names (or one name alone), as written. Header
// names repeat whatever their case; cookie names are case-sensitive.
std::vector<std::string> Loader::read_name_list(const Field& field, std::string_view noun,
                                                bool ignore_case) {
  std::vector<Field> items;
  if (field.node.IsScalar()) {
    items.push_back(field);
  } else if (expect_type(diag_, field, YAML::NodeType::Sequence)) {
    items = sequence_items(field);
  }
  std::vector<std::string> names;
  std::map<std::string, int> lines;  // compared name -> line first given
  for (const auto& item : items) {
    auto name = read_string(diag_, item);
    if (!name) continue;
    if (!valid_token(*name)) {
      diag_.error(item, "invalid " + std::string(noun) + " name " + quote(*name));
      continue;
    }
    auto [first, inserted] =
        lines.emplace(ignore_case ? lowercase(*name) : *name, item.mark.line + 1);
    if (!inserted) {
      diag_.error(item, "duplicate " + std::string(noun) + " " + quote(*name) +
                            " (first at line " + std::to_string(first->second) + ")");
      continue;
    }
    names.push_back(std::move(*name));
  }
  return names;
}

cache::StaleIfSet Loader::read_use_stale(const Field& field) {
  std::vector<Field> items;
  if (field.node.IsScalar()) {
    items.push_back(field);
  } else if (expect_type(diag_, field, YAML::NodeType::Sequence)) {
    items = sequence_items(field);
  }
  cache::StaleIfSet values;
  for (const auto& item : items) {
    auto value = read_choice(diag_, item, Choices<cache::StaleIf>(kUseStale));
    if (!value) continue;
    if (values.has(*value)) {
      diag_.error(item, quote(item.node.Scalar()) + " is listed twice");
      continue;
    }
    values.add(*value);
  }
  return values;
}

void Loader::read_upstreams(const Field& field) {
  if (!expect_type(diag_, field, YAML::NodeType::Map)) return;
  for (const auto& entry : map_entries(diag_, field, "upstream")) {
    if (!valid_upstream_name(entry.key)) {
      diag_.error(entry.key_mark, "invalid upstream name " + quote(entry.key) +
                                      " (letters, digits, '_', '.', '-')");
    }
    upstreams::GroupConfig upstream;
    upstream.name = entry.key;
    read_upstream(entry.value, upstream);
    // Kept even when invalid, so routes naming it don't add a second error.
    config_.upstreams.push_back(std::move(upstream));
  }
}

void Loader::read_upstream(const Field& field, upstreams::GroupConfig& upstream) {
  MapReader map(diag_, field,
                {"balance", "instances", "keepalive", "retries", "max_fails", "fails",
                 "fail_timeout", "health"});
  if (!map.valid()) return;
  map.read_choice("balance", upstream.balance, Choices<upstreams::Balance>(kBalances));
  if (const Field* instances = map.require("instances")) read_instances(*instances, upstream);
  map.read_int("keepalive", upstream.keepalive, 0, 10'000);
  map.read_int("retries", upstream.retries, 0, 100);
  // `fails` is an alias of max_fails (the nginx name).
  if (map.get("max_fails") && map.get("fails")) {
    diag_.error(*map.key_mark("fails"),
                field.path + ": give max_fails or its alias fails, not both");
  } else {
    map.read_int(map.get("fails") ? "fails" : "max_fails", upstream.max_fails, 0, 1'000);
  }
  map.read_duration("fail_timeout", upstream.fail_timeout);
  if (const Field* health = map.get("health")) read_health(*health, upstream.health.emplace());
}

void Loader::read_instances(const Field& field, upstreams::GroupConfig& upstream) {
  if (!expect_type(diag_, field, YAML::NodeType::Sequence)) return;
  auto items = sequence_items(field);
  if (items.empty()) {
    diag_.error(field, "must list at least one instance");
    return;
  }
  std::vector<YAML::Mark> marks;  // parallel to upstream.instances
  for (const auto& item : items) {
    upstreams::InstanceConfig instance;
    const Field* address = &item;
    std::optional<MapReader> map;
    if (item.node.IsMap()) {
      map.emplace(diag_, item, std::initializer_list<std::string_view>{"address", "weight"});
      address = map->require("address");
      map->read_int("weight", instance.weight, 1, 1'000);
    }
    if (address == nullptr) continue;
    auto endpoint = read_endpoint(diag_, *address, false);
    if (!endpoint) continue;
    instance.address = std::move(*endpoint);

    auto first = std::find_if(
        upstream.instances.begin(), upstream.instances.end(),
        [&](const upstreams::InstanceConfig& other) { return same_endpoint(other.address, instance.address); });
    if (first != upstream.instances.end()) {
      auto line = marks[static_cast<std::size_t>(first - upstream.instances.begin())].line + 1;
      diag_.error(*address, "duplicate instance " + quote(instance.address.text) +
                                " (first at line " + std::to_string(line) + ")");
      continue;
    }
    upstream.instances.push_back(std::move(instance));
    marks.push_back(address->mark);
  }
}

void Loader::read_health(const Field& field, upstreams::HealthCheckConfig& health) {
  MapReader map(diag_, field, {"path", "interval", "timeout", "passes", "fails"});
  if (const Field* path = map.get("path")) {
    if (auto value = read_string(diag_, *path)) {
      if (value->front() == '/') {
        health.path = *value;
      } else {
        diag_.error(*path, "path " + quote(*value) + " must start with '/'");
      }
    }
  }
  map.read_duration("interval", health.interval, Duration{1});
  map.read_duration("timeout", health.timeout, Duration{1});
  map.read_int("passes", health.passes, 1, 100);
  map.read_int("fails", health.fails, 1, 100);
}

void Loader::read_routes(const Field& field) {
  if (!expect_type(diag_, field, YAML::NodeType::Sequence)) return;
  auto items = sequence_items(field);
  if (items.empty()) diag_.error(field, "must list at least one route");
  for (const auto& item : items) read_route(item);
}

void Loader::read_route(const Field& field) {
  MapReader map(diag_, field,
                {"prefix", "path", "host", "upstream", "page", "aggregate", "strip_prefix", "name",
                 "cache"});
  if (!map.valid()) return;
  RouteConfig route;
  route.line = field.mark.line + 1;

  const Field* prefix = map.get("prefix");
  const Field* path = map.get("path");
  if (prefix && path) {
    diag_.error(*map.key_mark("path"), field.path + ": give prefix or path, not both");
  } else if (!prefix && !path) {
    diag_.error(field, "missing required key \"prefix\" or \"path\"");
  } else if (prefix) {
    if (auto value = read_string(diag_, *prefix)) {
      if (value->front() == '/') {
        route.prefix = *value;
      } else {
        diag_.error(*prefix, "prefix " + quote(*value) + " must start with '/'");
      }
    }
  } else if (auto value = read_string(diag_, *path)) {
    if (auto problem = check_path_pattern(*value)) {
      diag_.error(*path, "path " + quote(*value) + ": " + *problem);
    } else {
      route.path = *value;
    }
  }

  if (const Field* hosts = map.get("host")) route.hosts = read_hosts(*hosts);

  // What the route does: exactly one of upstream, page and aggregate.
  const Field* upstream = map.get("upstream");
  const Field* page = map.get("page");
  const Field* aggregate = map.get("aggregate");
  std::string given;
  for (auto [key, present] : {std::pair{"upstream", upstream != nullptr},
                              std::pair{"page", page != nullptr},
                              std::pair{"aggregate", aggregate != nullptr}}) {
    if (present) given += std::string(given.empty() ? "" : " and ") + key;
  }
  const bool one_kind = (upstream != nullptr) + (page != nullptr) + (aggregate != nullptr) == 1;
  if (given.empty()) {
    diag_.error(field, "missing required key \"upstream\", \"page\" or \"aggregate\"");
  } else if (!one_kind) {
    diag_.error(field, "give one of upstream, page or aggregate, not " + given);
  } else if (upstream) {
    route.kind = RouteConfig::Kind::proxy;
    if (auto name = read_string(diag_, *upstream)) {
      route.upstream = *name;
      upstream_uses_.push_back({config_.routes.size(), *upstream});
    }
  } else if (page) {
    route.kind = RouteConfig::Kind::page;
    read_page(*page, route_params(route), route.page.emplace());
  } else {
    route.kind = RouteConfig::Kind::aggregate;
    read_aggregate(*aggregate, route_params(route), route.aggregate.emplace());
  }
  const bool proxies = one_kind && upstream != nullptr;
  const char* not_proxy = page ? "a page route" : "an aggregate route";

  if (map.get("strip_prefix") && !prefix) {
    diag_.error(*map.key_mark("strip_prefix"), field.path + ": strip_prefix needs a prefix route");
  } else if (map.get("strip_prefix") && one_kind && !proxies) {
    diag_.error(*map.key_mark("strip_prefix"), field.path + ": strip_prefix needs an upstream, " +
                                                   "not " + not_proxy);
  } else {
    map.read_bool("strip_prefix", route.strip_prefix);
  }

  route.name = route.prefix.empty() ? route.path : route.prefix;
  map.read_string("name", route.name);

  if (const Field* cache = map.get("cache")) {
    if (one_kind && !proxies) {
      diag_.error(*map.key_mark("cache"),
                  field.path + ": cache needs an upstream, not " + not_proxy +
                      " (the routes its " + (page ? "fragments" : "parts") +
                      " go through cache them)");
    } else {
      read_cache_rule(*cache, route.cache.emplace());
    }
  }

  config_.routes.push_back(std::move(route));
  route_fields_.push_back(field);
}

// `page: FILE` or `page: {template: FILE, timeout, max_depth, max_fragment_bytes}`.
void Loader::read_page(const Field& field, const RouteParams& params, PageConfig& page) {
  if (field.node.IsScalar()) {
    read_template(field, params, page);
    return;
  }
  MapReader map(diag_, field, {"template", "timeout", "max_depth", "max_fragment_bytes"});
  if (!map.valid()) return;
  map.read_duration("timeout", page.timeout, Duration{1});
  map.read_int("max_depth", page.max_depth, 0, 8);
  map.read_size("max_fragment_bytes", page.max_fragment_bytes, 1, kMaxSize);
  if (const Field* file = map.require("template")) read_template(*file, params, page);
}

// Reads and parses the template file at load, so a broken template is a
// configuration error. Its errors name the template file and a place in it.
void Loader::read_template(const Field& field, const RouteParams& params, PageConfig& page) {
  auto value = read_string(diag_, field);
  if (!value) return;
  fs::path path(*value);
  if (path.is_relative()) path = dir_ / path;
  path = path.lexically_normal();
  page.template_path = path.string();

  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    diag_.error(field, "cannot read template " + quote(*value) + ": is a directory");
    return;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    diag_.error(field, "cannot read template " + quote(*value) + ": " + std::strerror(errno));
    return;
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    diag_.error(field, "cannot read template " + quote(*value) + ": read error");
    return;
  }

  auto parsed = page::parse_template(text.str());
  std::stable_sort(parsed.errors.begin(), parsed.errors.end(), [](const auto& a, const auto& b) {
    return std::pair(a.line, a.column) < std::pair(b.line, b.column);
  });
  for (auto& error : parsed.errors) {
    diag_.error_in(page.template_path, error.line, error.column, std::move(error.message),
                   field.mark);
  }
  if (!parsed.errors.empty()) return;

  for (const auto& segment : parsed.tpl.segments) {
    if (!segment.include) continue;
    const auto& include = *segment.include;
    for (auto [attribute, url] : {std::pair{"src", &include.src}, std::pair{"alt", &include.alt},
                                  std::pair{"fallback", &include.fallback_url}}) {
      for (const auto& name : unknown_params(*url, params)) {
        diag_.error_in(page.template_path, include.line, include.column,
                       "unknown parameter " + quote("{" + name + "}") + " in include " +
                           attribute + " " + quote(*url) + params.hint,
                       field.mark);
      }
    }
  }
  page.parsed = std::make_shared<const page::Template>(std::move(parsed.tpl));
}

// `aggregate: {key: PATH, key: {path, required, timeout}, ...}`, or with
// options of the whole aggregate: `aggregate: {parts: {...}, timeout, max_part_bytes}`.
void Loader::read_aggregate(const Field& field, const RouteParams& params,
                            AggregateConfig& aggregate) {
  if (!expect_type(diag_, field, YAML::NodeType::Map)) return;
  bool has_parts = false;
  for (const auto& pair : field.node) {
    if (pair.first.IsScalar() && pair.first.Scalar() == "parts") has_parts = true;
  }
  if (!has_parts) {
    read_aggregate_parts(field, params, false, aggregate);
    return;
  }
  MapReader map(diag_, field, {"parts", "timeout", "max_part_bytes"});
  map.read_duration("timeout", aggregate.timeout, Duration{1});
  map.read_size("max_part_bytes", aggregate.max_part_bytes, 1, kMaxSize);
  if (const Field* parts = map.get("parts")) read_aggregate_parts(*parts, params, true, aggregate);
}

void Loader::read_aggregate_parts(const Field& field, const RouteParams& params,
                                  bool options_beside, AggregateConfig& aggregate) {
  if (!expect_type(diag_, field, YAML::NodeType::Map)) return;
  if (field.node.size() == 0) {
    diag_.error(field, "must list at least one part");
    return;
  }
  for (const auto& entry : map_entries(diag_, field, "part")) {
    if (entry.key.empty()) {
      diag_.error(entry.key_mark, "a part's key must not be empty" + where(field));
      continue;
    }
    AggregatePart part;
    part.key = entry.key;
    const Field* path = &entry.value;
    // Declared here: `path` may point into it, and is used below.
    std::optional<MapReader> map_storage;
    if (entry.value.node.IsMap()) {
      auto& map = map_storage.emplace(diag_, entry.value, std::initializer_list<std::string_view>{"path", "required", "timeout"});
      path = map.require("path");
      map.read_bool("required", part.required);
      map.read("timeout", part.timeout,
               [&](const Field& f) { return read_duration(diag_, f, Duration{1}); });
    }
    if (path == nullptr) continue;
    auto value = read_string(diag_, *path);
    if (!value) continue;
    if (value->front() != '/') {
      // `aggregate: {a: /x, timeout: 1s}` reads timeout as a part.
      bool option = entry.key == "timeout" || entry.key == "max_part_bytes";
      diag_.error(*path, "path " + quote(*value) + " must start with '/'" +
                             (option && !options_beside
                                  ? " (options of the whole aggregate go beside its parts: "
                                    "{parts: {...}, " + entry.key + ": ...})"
                                  : ""));
      continue;
    }
    for (const auto& name : unknown_params(*value, params)) {
      diag_.error(*path, "unknown parameter " + quote("{" + name + "}") + " in " + quote(*value) +
                             params.hint);
    }
    part.path = std::move(*value);
    aggregate.parts.push_back(std::move(part));
  }
}

std::vector<std::string> Loader::read_hosts(const Field& field) {
  std::vector<Field> items;
  if (field.node.IsScalar()) {
    items.push_back(field);
  } else if (expect_type(diag_, field, YAML::NodeType::Sequence)) {
    items = sequence_items(field);
    if (items.empty()) diag_.error(field, "must list at least one host (or leave host out)");
  }
  std::vector<std::string> hosts;
  for (const auto& item : items) {
    if (auto host = read_string(diag_, item)) hosts.push_back(lowercase(*host));
  }
  return hosts;
}

void Loader::resolve_upstreams() {
  for (const auto& use : upstream_uses_) {
    auto& route = config_.routes[use.route];
    auto found = std::find_if(config_.upstreams.begin(), config_.upstreams.end(),
                              [&](const upstreams::GroupConfig& u) { return u.name == route.upstream; });
    if (found == config_.upstreams.end()) {
      diag_.error(use.field, "unknown upstream " + quote(route.upstream));
    } else {
      route.upstream_index = static_cast<std::size_t>(found - config_.upstreams.begin());
    }
  }
}

void Loader::resolve_cache_zones() {
  for (const auto& use : zone_uses_) {
    auto& rule = *config_.routes[use.route].cache;
    auto found = std::find_if(config_.caches.begin(), config_.caches.end(),
                              [&](const cache::ZoneConfig& z) { return z.name == rule.zone; });
    if (found == config_.caches.end()) {
      diag_.error(use.field, "unknown cache zone " + quote(rule.zone));
    } else {
      rule.zone_index = static_cast<std::size_t>(found - config_.caches.begin());
    }
  }
}

void Loader::check_duplicate_routes() {
  // Same hosts (in any order) and the same prefix or pattern: the second
  // route could never match.
  std::map<std::string, std::size_t> seen;
  for (std::size_t i = 0; i < config_.routes.size(); ++i) {
    const auto& route = config_.routes[i];
    if (route.prefix.empty() && route.path.empty()) continue;  // already reported
    auto hosts = route.hosts;
    std::sort(hosts.begin(), hosts.end());
    hosts.erase(std::unique(hosts.begin(), hosts.end()), hosts.end());
    std::string key = route.prefix.empty() ? "path " + route.path : "prefix " + route.prefix;
    for (const auto& host : hosts) key += "\n" + host;
    auto [it, inserted] = seen.emplace(key, i);
    if (!inserted) {
      diag_.error(route_fields_[i], "duplicate route: same host and " +
                                        std::string(route.prefix.empty() ? "path" : "prefix") +
                                        " as " + route_fields_[it->second].path + " (line " +
                                        std::to_string(config_.routes[it->second].line) + ")");
    }
  }
}

}  // namespace

LoadResult load_config_from_string(const std::string& yaml, const std::string& file) {
  Diagnostics diag(file);
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
    return {nullptr, diag.take()};
  }

  try {
    Loader loader(diag, *config, absolute.parent_path());
    loader.load(root);
  } catch (const YAML::Exception& e) {
    // The reader never converts with as<>, so this is a bug; still no throw.
    diag.error(e.mark, std::string("internal error reading the configuration: ") + e.what());
  }
  if (!diag.ok()) return {nullptr, diag.take()};
  return {std::move(config), {}};
}

LoadResult load_config(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    return {nullptr, {ConfigError{path, 0, 0, "cannot read configuration: is a directory"}}};
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return {nullptr, {ConfigError{path, 0, 0,
                                  std::string("cannot read configuration: ") + std::strerror(errno)}}};
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    return {nullptr, {ConfigError{path, 0, 0, "cannot read configuration: read error"}}};
  }
  return load_config_from_string(text.str(), path);
}

}  // namespace gateway
