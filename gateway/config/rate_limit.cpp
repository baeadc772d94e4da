// The limits of request rate and connections in the configuration: a
// route's `limit:` and the top-level one (the default of routes without
// their own), and the top-level `max_conns_per_client`. What they mean is
// in gateway/rate_limit.hpp; the other sections are listed in sections.hpp.
#include "gateway/config/sections.hpp"

namespace gateway::config {

namespace {

constexpr long long kMaxBurst = 1'000'000;
constexpr long long kMaxKeys = 100'000'000;
constexpr long long kMaxConns = 1'000'000;

// `key: client_ip | header:NAME | cookie:NAME`.
void read_key(Context& ctx, const Field& field, limit::RateLimitConfig& rule) {
  auto text = read_string(ctx.diag, field);
  if (!text) return;
  if (*text == "client_ip") {
    rule.key = limit::KeyKind::client_ip;
    return;
  }
  auto colon = text->find(':');
  std::string_view kind = std::string_view(*text).substr(0, colon);
  std::string name = colon == std::string::npos ? "" : text->substr(colon + 1);
  if ((kind != "header" && kind != "cookie") || colon == std::string::npos) {
    ctx.diag.error(field, "unknown key " + quote(*text) + " (expected client_ip, header:NAME or cookie:NAME)");
    return;
  }
  if (!valid_token(name)) {
    ctx.diag.error(field, "invalid " + std::string(kind) + " name " + quote(name) + " in key " + quote(*text));
    return;
  }
  rule.key = kind == "header" ? limit::KeyKind::header : limit::KeyKind::cookie;
  rule.key_name = std::move(name);
}

}  // namespace

void read_rate_limit(Context& ctx, const Field& field, std::optional<limit::RateLimitConfig>& out) {
  if (field.node.IsScalar() && (field.node.Scalar() == "off" || field.node.Scalar() == "false")) {
    out.emplace().off = true;
    return;
  }
  if (field.node.IsScalar()) {
    ctx.diag.error(field, "expected a map {rate, burst, nodelay, delay, key, status, max_keys} or off, got " +
                              describe(field.node));
    return;
  }
  MapReader map(ctx.diag, field, {"rate", "burst", "nodelay", "delay", "key", "status", "max_keys"});
  if (!map.valid()) return;
  limit::RateLimitConfig rule;
  const std::size_t errors = ctx.diag.count();
  if (const Field* rate = map.require("rate")) {
    if (auto text = read_string(ctx.diag, *rate)) {
      if (auto parsed = limit::parse_rate(*text)) rule.rate = *parsed;
      else
        ctx.diag.error(*rate, "invalid rate " + quote(*text) + " (expected N r/s or N r/m written as 10r/s, " +
                                  "N from 1 to 1000000)");
    }
  }
  map.read_int("burst", rule.burst, 0, kMaxBurst);
  map.read_bool("nodelay", rule.nodelay);
  if (const Field* delay = map.get("delay")) {
    if (auto n = read_integer(ctx.diag, *delay, 0, kMaxBurst)) rule.delay = *n;
    if (rule.nodelay) ctx.diag.error(*delay, "delay and nodelay exclude each other (nodelay is a delay of the whole burst)");
    else if (rule.delay > rule.burst)
      ctx.diag.error(*delay, "delay " + std::to_string(rule.delay) + " is over burst " + std::to_string(rule.burst) +
                                 " (the requests passed at once are part of the burst)");
  }
  if (const Field* key = map.get("key")) read_key(ctx, *key, rule);
  map.read_int("status", rule.status, 400, 599);
  map.read_int("max_keys", rule.max_keys, 1, kMaxKeys);
  if (ctx.diag.count() == errors) out = std::move(rule);
}

void read_max_conns_per_client(Context& ctx, const Field& field, std::size_t& max) {
  if (auto n = read_integer(ctx.diag, field, 0, kMaxConns)) max = static_cast<std::size_t>(*n);
}

}  // namespace gateway::config
