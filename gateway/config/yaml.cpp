// The configuration loader's YAML layer (see yaml.hpp): diagnostics in file
// order, map and list walking, typed values. Knows nothing of the
// configuration's sections; those are in the files sections.hpp lists.
#include "gateway/config/yaml.hpp"

#include <algorithm>
#include <charconv>

namespace gateway::config {

namespace {

constexpr std::size_t kMaxQuotedValue = 64;

std::string child_path(const std::string& parent, std::string_view key) {
  return parent.empty() ? std::string(key) : parent + "." + std::string(key);
}

}  // namespace

void Diagnostics::error(const YAML::Mark& mark, std::string message) {
  ConfigError e{file_, 0, 0, std::move(message)};
  if (!mark.is_null()) {
    e.line = mark.line + 1;
    e.column = mark.column + 1;
  }
  errors_.push_back({e.line, e.column, std::move(e)});
}

void Diagnostics::error(const Field& field, std::string_view message) {
  error(field.mark,
        field.path.empty() ? std::string(message) : field.path + ": " + std::string(message));
}

void Diagnostics::error_in(const std::string& file, int line, int column, std::string message,
                           const YAML::Mark& named_at) {
  int order_line = named_at.is_null() ? 0 : named_at.line + 1;
  int order_column = named_at.is_null() ? 0 : named_at.column + 1;
  errors_.push_back(
      {order_line, order_column, ConfigError{file, line, column, std::move(message)}});
}

void Diagnostics::warning(const Field& field, std::string_view message) {
  int line = field.mark.is_null() ? 0 : field.mark.line + 1;
  int column = field.mark.is_null() ? 0 : field.mark.column + 1;
  std::string text = "warning: " + (field.path.empty() ? std::string(message) : field.path + ": " + std::string(message));
  warnings_.push_back({line, column, ConfigError{file_, line, column, std::move(text)}});
}

namespace {
std::vector<ConfigError> sorted(std::vector<Diagnostics::Item>& items) {
  std::stable_sort(items.begin(), items.end(), [](const auto& a, const auto& b) {
    return std::pair(a.line, a.column) < std::pair(b.line, b.column);
  });
  std::vector<ConfigError> out;
  for (auto& item : items) out.push_back(std::move(item.error));
  items.clear();
  return out;
}
}  // namespace

std::vector<ConfigError> Diagnostics::take() { return sorted(errors_); }

std::vector<ConfigError> Diagnostics::take_warnings() { return sorted(warnings_); }

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

std::string where(const Field& field) {
  return field.path.empty() ? std::string() : " in " + field.path;
}

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

// yaml-cpp keeps every pair of a map that repeats a key while lookups see
// only one of them: the repeats are reported here.
std::vector<Entry> map_entries(Diagnostics& diag, const Field& map, std::string_view noun) {
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

std::vector<Field> sequence_items(const Field& list) {
  std::vector<Field> items;
  std::size_t i = 0;
  for (const auto& node : list.node) {
    items.push_back({node, mark_of(node, list.mark), list.path + "[" + std::to_string(i++) + "]"});
  }
  return items;
}

std::vector<Field> one_or_list(Diagnostics& diag, const Field& field) {
  if (field.node.IsScalar()) return {field};
  if (!expect_type(diag, field, YAML::NodeType::Sequence)) return {};
  return sequence_items(field);
}

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
    diag.error(field, "invalid address " + quote(*text) +
                          " (expected host:port or [ipv6]:port, port " +
                          (allow_zero_port ? "0" : "1") + "-65535)");
  }
  return value;
}

MapReader::MapReader(Diagnostics& diag, const Field& map, std::span<const std::string_view> allowed)
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

const Field* MapReader::get(std::string_view key) const {
  for (const auto& entry : entries_) {
    if (entry.key == key) return &entry.value;
  }
  return nullptr;
}

const Field* MapReader::require(std::string_view key) const {
  const Field* field = get(key);
  if (field == nullptr && valid_) {
    diag_.error(map_, "missing required key " + quote(key));
  }
  return field;
}

const YAML::Mark* MapReader::key_mark(std::string_view key) const {
  for (const auto& entry : entries_) {
    if (entry.key == key) return &entry.key_mark;
  }
  return nullptr;
}

}  // namespace gateway::config
