// `rewrite:` lists: at the top level (before routing) and on a proxy route
// (the path sent upstream). Each rule's regex is compiled here, with RE2; a
// bad one is an error at its place. What they mean is in
// gateway/rewrite.hpp; the other sections are listed in sections.hpp.
#include "gateway/config/sections.hpp"

namespace gateway::config {

namespace {

constexpr std::pair<std::string_view, int> kRedirects[] = {{"301", 301}, {"302", 302}};

void read_rewrite(Context& ctx, const Field& item, std::vector<rewrite::Rule>& rules) {
  MapReader map(ctx.diag, item, {"match", "to", "redirect"});
  if (!map.valid()) return;
  const Field* match = map.require("match");
  const Field* to = map.require("to");
  int redirect = 0;
  map.read_choice("redirect", redirect, Choices<int>(kRedirects));
  if (match == nullptr || to == nullptr) return;
  auto regex = read_string(ctx.diag, *match);
  auto target = read_string(ctx.diag, *to);
  if (!regex || !target) return;
  auto compiled = rewrite::compile(*regex, *target, redirect);
  if (compiled.rule) {
    rules.push_back(std::move(*compiled.rule));
  } else {
    // The regex's own errors at the regex, those of the groups at `to`.
    bool regex_error = compiled.error.starts_with("invalid regex");
    ctx.diag.error(regex_error ? *match : *to, compiled.error);
  }
}

}  // namespace

void read_rewrites(Context& ctx, const Field& field, std::vector<rewrite::Rule>& rules) {
  if (!expect_type(ctx.diag, field, YAML::NodeType::Sequence)) return;
  for (const auto& item : sequence_items(field)) read_rewrite(ctx, item, rules);
}

}  // namespace gateway::config
