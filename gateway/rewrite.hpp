// URL rewrites (nginx's `rewrite`), with RE2: linear-time matching, no
// catastrophic backtracking on a hostile path. Two places use them:
//   - the top-level `rewrite:` list, applied to the client's path before
//     routing (nginx's server-level rewrite with `last`): the first rule
//     whose regex matches gives the new path, and the request is routed by
//     it; or, with `redirect: 301|302`, the client is sent there instead;
//   - a proxy route's `rewrite:` list, applied once the route matched, to
//     the path sent to the instance (nginx's `rewrite ... break` in a
//     location).
// A rule's regex is matched against the path (not the query, as nginx);
// `to` replaces the whole path, with $0..$9 the regex's groups. The query
// is kept, unless `to` has a '?' of its own: then its query is the one.
//
// Regexes are compiled at load; an invalid one, or `to` naming a group the
// regex does not have, is a configuration error. Pure functions (table tests
// in tests/unit/gateway/rewrite_test.cpp); rules are immutable, shared by
// the workers.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace re2 {
class RE2;
}

namespace gateway::rewrite {

struct Rule {
  std::shared_ptr<const re2::RE2> match;
  std::string to;
  int redirect = 0;  // 301 or 302: answer a redirect; 0: rewrite
};

// A rule from its regex and replacement, or why it cannot be one (RE2's
// message, or a group `to` names that the regex lacks).
struct Compiled {
  std::optional<Rule> rule;
  std::string error;
};
Compiled compile(std::string_view regex, std::string_view to, int redirect = 0);

// What the first matching rule makes of `target` (path and query):
// the new target, and the rule's redirect status (0 for none).
struct Result {
  std::string target;
  int redirect = 0;
};
std::optional<Result> apply(std::span<const Rule> rules, std::string_view target);

}  // namespace gateway::rewrite
