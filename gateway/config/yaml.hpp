// The configuration loader's lower layer: it knows YAML, not the
// configuration. Node types, duplicate and unknown keys, typed values
// (integers, sizes, durations, addresses, one of a set of names), and where
// each node sits in the file, so every message names file:line:column.
// Every problem is recorded in Diagnostics and reading goes on, so a user sees
// all of them at once, sorted into file order.
//
// Used by the section readers (gateway/config/sections.hpp); runs on the
// thread that loads the configuration, never on the request path.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/units.hpp"
#include "gateway/config.hpp"

namespace gateway::config {

// A node, where to blame it, and how to name it in messages.
struct Field {
  YAML::Node node;
  YAML::Mark mark;   // the node's own mark, or its key's when the value is empty
  std::string path;  // "upstreams.channels.retries", for messages
};

// Where the problems go. Each is kept with its place in the configuration so
// that take() gives them in file order, whatever order the checks ran in.
class Diagnostics {
 public:
  explicit Diagnostics(std::string file) : file_(std::move(file)) {}

  void error(const YAML::Mark& mark, std::string message);
  // "path: message", blamed on the field's node.
  void error(const Field& field, std::string_view message);
  // An error in another file the configuration names (a page template),
  // listed where the configuration names it.
  void error_in(const std::string& file, int line, int column, std::string message,
                const YAML::Mark& named_at);

  // What loads but will not do what a reload is expected to (reported by
  // --check as "file:line:col: warning: ...", logged at a reload).
  void warning(const Field& field, std::string_view message);
  std::vector<ConfigError> take_warnings();

  bool ok() const { return errors_.empty(); }
  // Errors so far: a reader compares it before and after a part.
  std::size_t count() const { return errors_.size(); }
  std::vector<ConfigError> take();

  struct Item {
    int line, column;  // where in the configuration, for the order
    ConfigError error;
  };

 private:
  std::string file_;
  std::vector<Item> errors_;
  std::vector<Item> warnings_;
};

// "\"text\"", cut after 64 characters: values go into messages this way.
std::string quote(std::string_view text);
// A node as messages name it: its quoted value, "a list", "a map", "nothing".
std::string describe(const YAML::Node& node);
// " in upstreams.channels", or nothing at the top level.
std::string where(const Field& field);
// The node's mark, or `fallback` where yaml-cpp's would blame the wrong line.
YAML::Mark mark_of(const YAML::Node& node, const YAML::Mark& fallback);

// Reports "expected a map, got ..." unless the field's node has that type.
bool expect_type(Diagnostics& diag, const Field& field, YAML::NodeType::value type);

struct Entry {
  std::string key;
  YAML::Mark key_mark;
  Field value;
};

// The pairs of a map in file order, each repeated key reported once as
// "duplicate <noun> ..." and left out. `noun` names what the keys are.
std::vector<Entry> map_entries(Diagnostics& diag, const Field& map, std::string_view noun = "key");
// The items of a list, each named "path[i]".
std::vector<Field> sequence_items(const Field& list);
// A list, or one value alone standing for a list of one (`host: a.example`).
// Anything else is reported and gives no items.
std::vector<Field> one_or_list(Diagnostics& diag, const Field& field);

// Typed values. Each reports its own error and returns nullopt on failure.
std::optional<std::string> read_string(Diagnostics& diag, const Field& field);
std::optional<long long> read_integer(Diagnostics& diag, const Field& field, long long min,
                                      long long max);
std::optional<bool> read_bool(Diagnostics& diag, const Field& field);
std::optional<Duration> read_duration(Diagnostics& diag, const Field& field, Duration min);
std::optional<std::uint64_t> read_size(Diagnostics& diag, const Field& field, std::uint64_t min,
                                       std::uint64_t max);
std::optional<Endpoint> read_endpoint(Diagnostics& diag, const Field& field, bool allow_zero_port);

// The names a value may take and what each stands for, in the order messages
// list them: constexpr std::pair<std::string_view, E> kNames[] = {...}.
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
  MapReader(Diagnostics& diag, const Field& map, std::span<const std::string_view> allowed);
  MapReader(Diagnostics& diag, const Field& map, std::initializer_list<std::string_view> allowed)
      : MapReader(diag, map, std::span(allowed.begin(), allowed.size())) {}

  bool valid() const { return valid_; }

  // Null when the key is absent (or was unknown or repeated).
  const Field* get(std::string_view key) const;
  // Reports a missing key at the map's own mark.
  const Field* require(std::string_view key) const;
  const YAML::Mark* key_mark(std::string_view key) const;

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
    read(key, out, [&](const Field& f) { return config::read_size(diag_, f, min, max); });
  }
  void read_duration(std::string_view key, Duration& out, Duration min = Duration{0}) const {
    read(key, out, [&](const Field& f) { return config::read_duration(diag_, f, min); });
  }
  void read_bool(std::string_view key, bool& out) const {
    read(key, out, [&](const Field& f) { return config::read_bool(diag_, f); });
  }
  void read_string(std::string_view key, std::string& out) const {
    read(key, out, [&](const Field& f) { return config::read_string(diag_, f); });
  }
  template <class E>
  void read_choice(std::string_view key, E& out, Choices<E> choices) const {
    read(key, out, [&](const Field& f) { return config::read_choice(diag_, f, choices); });
  }

 private:
  Diagnostics& diag_;
  Field map_;
  std::vector<Entry> entries_;
  bool valid_ = false;
};

}  // namespace gateway::config
