// `access:` (allow/deny rules in order) and `auth:` (Basic authentication
// against an htpasswd file), at the top level (the default of every route),
// on a route, and `auth:` on the admin listener. The htpasswd file is read
// here, at load and at each reload; its bad lines are errors at the file's
// line. What they mean is in gateway/access.hpp; the other sections are
// listed in sections.hpp.
#include "base/file.hpp"
#include "gateway/config/sections.hpp"

namespace gateway::config {

namespace {

constexpr std::string_view kCidrHint = " (expected all, an address or ADDRESS/BITS, e.g. 10.0.0.0/8 or ::1)";

// `{allow: CIDR|all}` or `{deny: [CIDR, ...]}`: one rule per range.
void read_access_rule(Context& ctx, const Field& item, std::vector<access::AddressRule>& rules) {
  MapReader map(ctx.diag, item, {"allow", "deny"});
  if (!map.valid()) return;
  const Field* allow = map.get("allow");
  const Field* deny = map.get("deny");
  if ((allow != nullptr) == (deny != nullptr)) {
    ctx.diag.error(item, "give one of allow or deny in each rule");
    return;
  }
  const Field& ranges = allow ? *allow : *deny;
  for (const auto& range : one_or_list(ctx.diag, ranges)) {
    auto text = read_string(ctx.diag, range);
    if (!text) continue;
    if (*text == "all") {
      rules.push_back({allow != nullptr, std::nullopt});
      continue;
    }
    std::string error;
    if (auto cidr = net::Cidr::parse(*text, error)) {
      rules.push_back({allow != nullptr, *cidr});
    } else {
      ctx.diag.error(range, error + std::string(kCidrHint));
    }
  }
}

// The users of the htpasswd file at `path`; its problems are reported at
// its lines, and listed where the configuration names it.
std::shared_ptr<const access::Htpasswd> read_htpasswd(Context& ctx, const Field& field, const std::string& path) {
  auto file = read_whole_file(path);
  if (!file.bytes) {
    ctx.diag.error(field, "cannot read htpasswd file " + quote(path) + ": " + file.error);
    return nullptr;
  }
  std::vector<access::HtpasswdError> errors;
  auto users = access::Htpasswd::parse(*file.bytes, errors);
  for (const auto& e : errors) ctx.diag.error_in(path, e.line, 1, e.message, field.mark);
  if (errors.empty() && users->size() == 0) ctx.diag.error(field, "htpasswd file " + quote(path) + " has no users");
  return users;
}

}  // namespace

void read_access_rules(Context& ctx, const Field& field, std::optional<std::vector<access::AddressRule>>& rules) {
  if (!expect_type(ctx.diag, field, YAML::NodeType::Sequence)) return;
  auto& out = rules.emplace();
  for (const auto& item : sequence_items(field)) read_access_rule(ctx, item, out);
}

void read_route_access(Context& ctx, const MapReader& map, const Field& field, std::string_view not_proxy,
                       RouteConfig& route) {
  if (const Field* rules = map.get("access")) read_access_rules(ctx, *rules, route.access.rules);
  if (const Field* auth = map.get("auth")) read_auth(ctx, *auth, route.access.auth);
  if (const Field* rewrites = map.get("rewrite")) {
    if (!not_proxy.empty()) {
      ctx.diag.error(*map.key_mark("rewrite"), field.path + ": rewrite needs an upstream, not " +
                                                    std::string(not_proxy) + " (the top-level rewrite: is before routing)");
    } else {
      read_rewrites(ctx, *rewrites, route.rewrite);
    }
  }
}

void read_auth(Context& ctx, const Field& field, std::optional<access::AuthConfig>& auth) {
  if (field.node.IsScalar() && field.node.Scalar() == "off") {
    auth.emplace().off = true;
    return;
  }
  MapReader map(ctx.diag, field, {"realm", "htpasswd", "forward"});
  if (!map.valid()) return;
  access::AuthConfig config;
  config.realm = "Restricted";
  map.read_string("realm", config.realm);
  map.read_bool("forward", config.forward);
  const Field* file = map.require("htpasswd");
  if (file == nullptr) return;
  auto path = read_string(ctx.diag, *file);
  if (!path) return;
  config.htpasswd = resolve_path(ctx, *path).string();
  config.users = read_htpasswd(ctx, *file, config.htpasswd);
  auth = std::move(config);
}

}  // namespace gateway::config
