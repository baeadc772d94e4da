// `compress:`, on a route or at the top level (the default of every route
// without its own, as nginx's http-level gzip directives are; a route's own
// replaces it entirely):
//   compress: on | off        the defaults of compress::CompressConfig, or none
//   compress: {types: [text/html, application/json], min_bytes: 256,
//              gzip_level: 5, brotli_quality: 4}
// Runs on the thread that loads the configuration.
#include <algorithm>
#include <cctype>

#include "gateway/config/sections.hpp"

namespace gateway::config {

namespace {

// "type/subtype" or "type/*", each part an RFC 9110 token, no parameters.
bool valid_media_type(std::string_view t) {
  auto slash = t.find('/');
  if (slash == std::string_view::npos) return false;
  auto type = t.substr(0, slash);
  auto sub = t.substr(slash + 1);
  return valid_token(type) && type != "*" && (sub == "*" || valid_token(sub));
}

void read_types(Context& ctx, const Field& field, std::vector<std::string>& types) {
  const std::size_t errors = ctx.diag.count();
  std::vector<std::string> out;
  for (const auto& item : one_or_list(ctx.diag, field)) {
    auto text = read_string(ctx.diag, item);
    if (!text) continue;
    if (!valid_media_type(*text)) {
      ctx.diag.error(item, "invalid media type " + quote(*text) + " (type/subtype or type/*, no parameters)");
      continue;
    }
    out.push_back(http::lowercase(*text));
  }
  if (out.empty() && ctx.diag.count() == errors) ctx.diag.error(field, "must list at least one media type");
  types = std::move(out);
}

}  // namespace

void read_compress(Context& ctx, const Field& field, compress::CompressConfig& out) {
  if (field.node.IsScalar()) {
    const auto& text = field.node.Scalar();
    if (text == "on" || text == "true") out.enabled = true;
    else if (text == "off" || text == "false") out.enabled = false;
    else ctx.diag.error(field, "expected on, off or a map, got " + describe(field.node));
    return;
  }
  if (!expect_type(ctx.diag, field, YAML::NodeType::Map)) return;
  MapReader map(ctx.diag, field, {"types", "min_bytes", "gzip_level", "brotli_quality"});
  if (!map.valid()) return;
  out.enabled = true;
  if (const Field* types = map.get("types")) read_types(ctx, *types, out.types);
  map.read_size("min_bytes", out.min_bytes, 0, kMaxSize);
  map.read_int("gzip_level", out.gzip_level, 1, 9);
  map.read_int("brotli_quality", out.brotli_quality, 0, 11);
}

}  // namespace gateway::config
