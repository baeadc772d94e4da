#include "gateway/rewrite.hpp"

#include <re2/re2.h>

#include <array>

namespace gateway::rewrite {

namespace {

constexpr int kMaxGroup = 9;  // $0..$9

// The highest $N `to` names, -1 if none.
int highest_group(std::string_view to) {
  int highest = -1;
  for (std::size_t i = 0; i + 1 < to.size(); ++i)
    if (to[i] == '$' && to[i + 1] >= '0' && to[i + 1] <= '9') highest = std::max(highest, to[i + 1] - '0');
  return highest;
}

// `to` with each $N replaced by group N (empty if it did not take part).
std::string expand(std::string_view to, std::span<const re2::StringPiece> groups) {
  std::string out;
  out.reserve(to.size() + 32);
  for (std::size_t i = 0; i < to.size(); ++i) {
    if (to[i] == '$' && i + 1 < to.size() && to[i + 1] >= '0' && to[i + 1] <= '9') {
      auto n = static_cast<std::size_t>(to[i + 1] - '0');
      if (n < groups.size() && groups[n].data() != nullptr) out.append(groups[n].data(), groups[n].size());
      ++i;
    } else {
      out.push_back(to[i]);
    }
  }
  return out;
}

}  // namespace

Compiled compile(std::string_view regex, std::string_view to, int redirect) {
  re2::RE2::Options options;
  options.set_log_errors(false);
  auto re = std::make_shared<re2::RE2>(re2::StringPiece(regex.data(), regex.size()), options);
  if (!re->ok()) return {std::nullopt, "invalid regex: " + re->error()};
  int groups = re->NumberOfCapturingGroups();
  if (int named = highest_group(to); named > groups) {
    return {std::nullopt, "$" + std::to_string(named) + " names a group the regex does not have (it has " +
                              std::to_string(groups) + ")"};
  }
  for (char c : to)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '#')
      return {std::nullopt, "`to` holds a space, a control character or '#' (percent-encode it)"};
  if (to.empty() || (to.front() != '/' && to.front() != '$'))
    return {std::nullopt, "`to` must start with '/' (or a group that holds one)"};
  return {Rule{std::move(re), std::string(to), redirect}, {}};
}

std::optional<Result> apply(std::span<const Rule> rules, std::string_view target) {
  auto q = target.find('?');
  auto path = target.substr(0, q);
  auto query = q == std::string_view::npos ? std::string_view() : target.substr(q);
  std::array<re2::StringPiece, kMaxGroup + 1> groups;
  for (const auto& rule : rules) {
    int n = std::min(rule.match->NumberOfCapturingGroups(), kMaxGroup) + 1;
    if (!rule.match->Match(re2::StringPiece(path.data(), path.size()), 0, path.size(), re2::RE2::UNANCHORED,
                           groups.data(), n))
      continue;
    Result result{expand(rule.to, std::span(groups.data(), static_cast<std::size_t>(n))), rule.redirect};
    if (result.target.empty() || result.target.front() != '/') result.target.insert(0, 1, '/');
    if (result.target.find('?') == std::string::npos) result.target.append(query);
    return result;
  }
  return std::nullopt;
}

}  // namespace gateway::rewrite
