// `error_pages:` (gateway/error_pages.hpp), at the top level (the default
// of every route) and in a route: a page file per status or class, each
// read here whole (a missing or oversized file is a configuration error).
#include <charconv>
#include <map>

#include "base/file.hpp"
#include "gateway/config/sections.hpp"

namespace gateway::config {

namespace {

// "404" -> 404, "5xx" -> 5 (a class), else nullopt.
std::optional<std::pair<int, bool>> parse_status_key(std::string_view key) {
  if (key.size() == 3 && (key[0] == '4' || key[0] == '5') && key[1] == 'x' && key[2] == 'x')
    return std::pair{key[0] - '0', true};
  int status = 0;
  auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), status);
  if (ec != std::errc{} || end != key.data() + key.size() || status < error_pages::kMinStatus ||
      status > error_pages::kMaxStatus)
    return std::nullopt;
  return std::pair{status, false};
}

std::shared_ptr<const std::string> read_page(Context& ctx, const Field& field) {
  auto text = read_string(ctx.diag, field);
  if (!text) return nullptr;
  const auto path = resolve_path(ctx, *text).string();
  auto file = read_whole_file(path);
  if (!file.bytes) {
    ctx.diag.error(field, "cannot read error page " + quote(*text) + ": " + file.error);
    return nullptr;
  }
  if (file.bytes->size() > error_pages::kMaxPageBytes) {
    ctx.diag.error(field, "error page " + quote(*text) + " is larger than 1 MiB");
    return nullptr;
  }
  return std::make_shared<const std::string>(std::move(*file.bytes));
}

}  // namespace

void read_error_pages(Context& ctx, const Field& field, bool route, ErrorPages& pages) {
  if (!expect_type(ctx.diag, field, YAML::NodeType::Map)) return;
  for (const auto& entry : map_entries(ctx.diag, field, "status")) {
    if (entry.key == "intercept") {
      if (!route) {
        ctx.diag.error(entry.key_mark, "intercept is a route's key (error_pages in a route)");
      } else if (auto value = read_bool(ctx.diag, entry.value)) {
        pages.intercept = *value;
      }
      continue;
    }
    auto status = parse_status_key(entry.key);
    if (!status) {
      ctx.diag.error(entry.key_mark, "invalid status " + quote(entry.key) + where(field) +
                                         " (400..599, 4xx or 5xx" + (route ? ", or intercept)" : ")"));
      continue;
    }
    auto page = read_page(ctx, entry.value);
    if (!page) continue;
    if (status->second) pages.by_class[static_cast<std::size_t>(status->first)] = std::move(page);
    else pages.exact[status->first] = std::move(page);
  }
}

}  // namespace gateway::config
