// A route's `static:` block (gateway/static_files.hpp): its root, opened
// here so that a missing or unreadable root is a configuration error, its
// index names, try_files, fallback status and memory.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

#include "gateway/config/sections.hpp"
#include "gateway/static_memory.hpp"

namespace gateway::config {

namespace {

void read_root(Context& ctx, const Field& field, StaticConfig& config) {
  auto text = read_string(ctx.diag, field);
  if (!text) return;
  config.root = resolve_path(ctx, *text).string();
  if (config.root.size() > 1 && config.root.back() == '/') config.root.pop_back();
  char resolved[PATH_MAX];
  int fd = ::realpath(config.root.c_str(), resolved) ? ::open(resolved, O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
  if (fd < 0) {
    ctx.diag.error(field, "cannot open root directory " + quote(*text) + ": " + std::strerror(errno));
    return;
  }
  config.dir = std::make_shared<const static_files::RootDir>(fd, resolved);
}

// `index: index.html` or a list: plain names inside a directory.
void read_index(Context& ctx, const Field& field, StaticConfig& config) {
  config.index.clear();
  for (const auto& item : one_or_list(ctx.diag, field)) {
    auto name = read_string(ctx.diag, item);
    if (!name) continue;
    if (name->empty() || name->find('/') != std::string::npos || *name == "." || *name == "..") {
      ctx.diag.error(item, "index " + quote(*name) + " must be a file name (no '/')");
      continue;
    }
    config.index.push_back(*name);
  }
}

// `try_files: [$uri, $uri/, /index.html]`: paths from the root, where $uri
// is the request's path; one ending in '/' is a directory (its index).
void read_try_files(Context& ctx, const Field& field, StaticConfig& config) {
  config.try_files.clear();
  auto items = one_or_list(ctx.diag, field);
  if (items.empty()) ctx.diag.error(field, "must list at least one path (or leave try_files out)");
  for (const auto& item : items) {
    auto entry = read_string(ctx.diag, item);
    if (!entry) continue;
    std::string rest = *entry;
    for (auto at = rest.find("$uri"); at != std::string::npos; at = rest.find("$uri")) rest.erase(at, 4);
    if (!entry->starts_with('/') && !entry->starts_with("$uri")) {
      ctx.diag.error(item, "try_files entry " + quote(*entry) + " must start with '/' or $uri");
    } else if (rest.find('$') != std::string::npos) {
      ctx.diag.error(item, "try_files entry " + quote(*entry) + ": the only variable is $uri");
    } else if (rest.find("..") != std::string::npos || rest.find('\0') != std::string::npos) {
      ctx.diag.error(item, "try_files entry " + quote(*entry) + " may not contain \"..\"");
    } else {
      config.try_files.push_back(*entry);
    }
  }
}

}  // namespace

void read_static(Context& ctx, const Field& field, StaticConfig& config) {
  MapReader map(ctx.diag, field, {"root", "index", "try_files", "fallback", "precompressed", "memory"});
  if (!map.valid()) return;
  if (const Field* root = map.require("root")) read_root(ctx, *root, config);
  if (const Field* index = map.get("index")) read_index(ctx, *index, config);
  if (const Field* try_files = map.get("try_files")) read_try_files(ctx, *try_files, config);
  map.read_int("fallback", config.fallback, 400, 599);
  map.read_bool("precompressed", config.precompressed);
  map.read_size("memory", config.memory, 0, std::uint64_t{1} << 30);
  if (config.memory > 0) config.kept = std::make_shared<static_files::Memory>(config.memory);
}

}  // namespace gateway::config
