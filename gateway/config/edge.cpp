// The edge rules in the configuration: a route's `headers:` (request and
// response edits), a route's `redirect:`, and the top-level
// `trusted_proxies:`. What they mean is in gateway/edge_rules.hpp; the
// other sections are listed in sections.hpp.
#include <algorithm>
#include <set>

#include "gateway/config/sections.hpp"

namespace gateway::config {

namespace {

enum class Direction { request, response };

constexpr int kRedirectStatuses[] = {301, 302, 303, 307, 308};

// A field name the direction may edit: a token, not refused. Reports and
// returns false otherwise.
bool check_field_name(Context& ctx, const YAML::Mark& mark, std::string_view name, Direction dir,
                      const Field& where_field) {
  if (!valid_token(name)) {
    ctx.diag.error(mark, "invalid header name " + quote(name) + where(where_field));
    return false;
  }
  auto refused = dir == Direction::request ? edge::refused_request_field(name) : edge::refused_response_field(name);
  if (refused) {
    ctx.diag.error(mark, *refused + where(where_field));
    return false;
  }
  return true;
}

// A value: request values may use variables ($host, $remote_addr...);
// response values are sent as written.
std::optional<std::string> read_value(Context& ctx, const Field& field, Direction dir) {
  auto value = read_string(ctx.diag, field);
  if (!value) return std::nullopt;
  std::optional<std::string> problem;
  if (dir == Direction::request) {
    problem = edge::check_variables(*value);
  } else if (std::any_of(value->begin(), value->end(), [](char c) { return c == '\r' || c == '\n' || c == '\0'; })) {
    problem = "a value cannot hold CR, LF or NUL";
  }
  if (problem) {
    ctx.diag.error(field, *problem);
    return std::nullopt;
  }
  return value;
}

// `set: {Name: value, ...}` or `add:`; names compared without case.
void read_fields(Context& ctx, const Field& field, Direction dir,
                 std::vector<std::pair<std::string, std::string>>& out) {
  if (!expect_type(ctx.diag, field, YAML::NodeType::Map)) return;
  std::set<std::string> seen;
  for (auto& entry : map_entries(ctx.diag, field, "header")) {
    if (!check_field_name(ctx, entry.key_mark, entry.key, dir, field)) continue;
    if (!seen.insert(http::lowercase(entry.key)).second) {
      ctx.diag.error(entry.key_mark, "header " + quote(entry.key) + " is given twice" + where(field));
      continue;
    }
    if (auto value = read_value(ctx, entry.value, dir)) out.emplace_back(entry.key, std::move(*value));
  }
}

// `remove: NAME` or a list of them.
void read_removed(Context& ctx, const Field& field, Direction dir, edge::HeaderEdits& edits) {
  std::set<std::string> seen;
  for (const auto& item : one_or_list(ctx.diag, field)) {
    auto name = read_string(ctx.diag, item);
    if (!name || !check_field_name(ctx, item.mark, *name, dir, field)) continue;
    if (!seen.insert(http::lowercase(*name)).second) {
      ctx.diag.error(item, "header " + quote(*name) + " is listed twice");
      continue;
    }
    auto same = [&](const auto& f) { return http::iequals(f.first, *name); };
    if (std::any_of(edits.set.begin(), edits.set.end(), same)) {
      ctx.diag.error(item, "header " + quote(*name) + " is both set and removed (set replaces it already)");
      continue;
    }
    edits.remove.push_back(std::move(*name));
  }
}

void read_edits(Context& ctx, const Field& field, Direction dir, edge::HeaderEdits& edits) {
  if (dir == Direction::request) {
    MapReader map(ctx.diag, field, {"set", "remove"});
    if (!map.valid()) return;
    if (const Field* set = map.get("set")) read_fields(ctx, *set, dir, edits.set);
    if (const Field* remove = map.get("remove")) read_removed(ctx, *remove, dir, edits);
    return;
  }
  MapReader map(ctx.diag, field, {"add", "set", "remove"});
  if (!map.valid()) return;
  if (const Field* set = map.get("set")) read_fields(ctx, *set, dir, edits.set);
  if (const Field* add = map.get("add")) read_fields(ctx, *add, dir, edits.add);
  if (const Field* remove = map.get("remove")) read_removed(ctx, *remove, dir, edits);
}

}  // namespace

void read_header_rules(Context& ctx, const Field& field, std::string_view not_proxy, edge::HeaderRules& rules) {
  MapReader map(ctx.diag, field, {"request", "response"});
  if (!map.valid()) return;
  if (const Field* request = map.get("request")) {
    if (!not_proxy.empty()) {
      ctx.diag.error(*map.key_mark("request"), field.path + ": request edits need an upstream, not " +
                                                   std::string(not_proxy));
    } else {
      read_edits(ctx, *request, Direction::request, rules.request);
    }
  }
  if (const Field* response = map.get("response")) read_edits(ctx, *response, Direction::response, rules.response);
}

void read_redirect(Context& ctx, const Field& field, edge::RedirectConfig& redirect) {
  const Field* to = &field;
  std::optional<MapReader> map;
  if (field.node.IsMap()) {
    constexpr std::string_view kKeys[] = {"to", "status"};
    map.emplace(ctx.diag, field, kKeys);
    if (!map->valid()) return;
    to = map->require("to");
    if (const Field* status = map->get("status")) {
      if (auto code = read_integer(ctx.diag, *status, 100, 599)) {
        if (std::find(std::begin(kRedirectStatuses), std::end(kRedirectStatuses), *code) == std::end(kRedirectStatuses)) {
          ctx.diag.error(*status, "status " + std::to_string(*code) + " is no redirect (301, 302, 303, 307 or 308)");
        } else {
          redirect.status = static_cast<int>(*code);
        }
      }
    }
  }
  if (to == nullptr) return;
  auto text = read_string(ctx.diag, *to);
  if (!text) return;
  if (auto problem = edge::check_variables(*text)) {
    ctx.diag.error(*to, *problem);
  } else if (std::any_of(text->begin(), text->end(), [](char c) { return c == ' ' || c == '\t'; })) {
    ctx.diag.error(*to, "the redirect's target cannot hold spaces (write %20)");
  } else {
    redirect.to = std::move(*text);
  }
}

void read_trusted_proxies(Context& ctx, const Field& field, std::vector<net::Cidr>& ranges) {
  for (const auto& item : one_or_list(ctx.diag, field)) {
    auto text = read_string(ctx.diag, item);
    if (!text) continue;
    std::string error;
    if (auto range = net::Cidr::parse(*text, error)) {
      ranges.push_back(*range);
    } else {
      ctx.diag.error(item, error + " (expected an address or ADDRESS/BITS, e.g. 10.0.0.0/8 or 2001:db8::/32)");
    }
  }
}

}  // namespace gateway::config
